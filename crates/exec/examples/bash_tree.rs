//! Prints the tree-sitter-bash syntax tree of a shell snippet (a development aid for the
//! shell analyser): `cargo run -p openclaw-exec --example bash_tree -- 'ls | head'`.

fn main() {
    let source = std::env::args().nth(1).unwrap_or_else(|| "ls -la && git status".into());
    let mut parser = tree_sitter::Parser::new();
    parser.set_language(&tree_sitter_bash::LANGUAGE.into()).expect("bash grammar");
    let tree = parser.parse(&source, None).expect("parse");
    println!("{}", tree.root_node().to_sexp());
}
