// Regenerates src/collate_vectors.json: random file names of the classes the
// collation claims to match exactly, in a random order (`input`), and the order Node's
// `a.localeCompare(b)` sort gives them (`sorted`, a stable sort of `input`).
//   node tools/gen-collate-vectors.mjs [count] [seed] > src/collate_vectors.json
const count = Number(process.argv[2] ?? 4000);
let seed = Number(process.argv[3] ?? 20260906);
const rand = () => { // mulberry32
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = (s) => { const a = [...s]; return a[Math.floor(rand() * a.length)]; };
const ASCII = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).filter((c) => c !== "/").join("");
const LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const PUNCT = " _-,;:!?.'\"()[]{}@*\\&#%`^+<=>|~$0123456789";
const LATIN1 = Array.from({ length: 0x60 }, (_, i) => String.fromCharCode(0xa0 + i)).join("");
const EXT_A = Array.from({ length: 0x180 - 0x100 }, (_, i) => String.fromCharCode(0x100 + i)).join("");
const EXT_B = Array.from({ length: 0x250 - 0x180 }, (_, i) => String.fromCharCode(0x180 + i)).join("");
const EXT_ADD = Array.from({ length: 0x100 }, (_, i) => String.fromCharCode(0x1e00 + i)).join("");
const MARKS = "\u0300\u0301\u0302\u0303\u0304\u0306\u0307\u0308\u030a\u030b\u030c\u0323\u0327\u0328\u0335\u0338";
const SPECIAL = "ßæÆœŒøØðÐđĐłŁħĦſĳĲǉǈǇǆǅǄªº¹²³½¼¾ŀĿŉ‘’‚‛“”„‟–—‐‑…•‰′″‹›€£¥₹\u00a0\u2002\u2009\u00ad\u200b";
const GREEK = "αβγδεζηθικλμνξοπρστυφχψωςΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩάέήίόύώϊϋΐΰϐϑϕϖϰϱϲϵ";
const CYRILLIC = "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯіїєґІЇЄҐўЎ";
const CONTROL = "\u0001\u0007\t\n\r\u001f\u007f\u0085";
const WORDS = ["readme", "README", "ReadMe", "file", "File", "FILE", "résumé", "resume", "Résumé", "naïve", "naive",
  "cote", "côte", "coté", "côté", "straße", "strasse", "Strasse", "ærø", "aero", "oeuvre", "œuvre", "file10", "file9",
  "file-01", "file_01", "file.01", "a.b", "a-b", "a_b", "a b", "ab", ".bashrc", "_config", "-dash", "~tilde", "#hash",
  "Ångström", "angstrom", "Łódź", "lodz", "Dvořák", "dvorak", "İstanbul", "istanbul", "ıi", "über", "uber", "Über"];
const classes = [
  () => Array.from({ length: 1 + Math.floor(rand() * 12) }, () => pick(ASCII)).join(""),
  () => Array.from({ length: 1 + Math.floor(rand() * 6) }, () => pick(rand() < 0.7 ? LETTERS : PUNCT)).join(""),
  () => Array.from({ length: 1 + Math.floor(rand() * 8) }, () => pick(rand() < 0.5 ? LETTERS : LATIN1 + EXT_A)).join(""),
  () => Array.from({ length: 1 + Math.floor(rand() * 6) }, () => pick(LETTERS + EXT_A + EXT_B + EXT_ADD)).join(""),
  () => Array.from({ length: 1 + Math.floor(rand() * 5) }, () => pick(LETTERS) + (rand() < 0.4 ? pick(MARKS) : "")).join(""),
  () => Array.from({ length: 1 + Math.floor(rand() * 6) }, () => pick(rand() < 0.5 ? "adeilnostDLOS" : SPECIAL)).join(""),
  () => Array.from({ length: 1 + Math.floor(rand() * 6) }, () => pick(rand() < 0.5 ? GREEK : CYRILLIC + "и\u0306")).join(""),
  () => Array.from({ length: 2 + Math.floor(rand() * 5) }, () => pick(rand() < 0.2 ? CONTROL : "abAB.-_ ")).join(""),
  () => { const w = pick(WORDS); return rand() < 0.5 ? w : w + pick(PUNCT) + pick(WORDS); },
  () => { const w = pick(WORDS); return rand() < 0.5 ? w.normalize("NFD") : w.toUpperCase(); },
];
const seen = new Set();
const input = [];
while (input.length < count) {
  const name = classes[Math.floor(rand() * classes.length)]();
  if (!name || name === "." || name === ".." || seen.has(name)) continue;
  seen.add(name);
  input.push(name);
}
const sorted = [...input].sort((a, b) => a.localeCompare(b));
console.log(JSON.stringify({ node: process.version, icu: process.versions.icu, input, sorted }));
