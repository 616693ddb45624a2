//! Node's names and descriptions of errno values (libuv's, as `util.getSystemErrorMap()` of the
//! Node.js that runs upstream reports them on Linux), so errors read as upstream's do:
//! `ENOTDIR` in a launch failure, `ENOENT: no such file or directory, scandir '/x'` for a
//! file command. The table is data taken from that Node.js, not derived.

use std::path::Path;

/// `(errno, name, description)`.
const TABLE: &[(i32, &str, &str)] = &[
    (1, "EPERM", "operation not permitted"),
    (2, "ENOENT", "no such file or directory"),
    (3, "ESRCH", "no such process"),
    (4, "EINTR", "interrupted system call"),
    (5, "EIO", "i/o error"),
    (6, "ENXIO", "no such device or address"),
    (7, "E2BIG", "argument list too long"),
    (8, "ENOEXEC", "exec format error"),
    (9, "EBADF", "bad file descriptor"),
    (11, "EAGAIN", "resource temporarily unavailable"),
    (12, "ENOMEM", "not enough memory"),
    (13, "EACCES", "permission denied"),
    (14, "EFAULT", "bad address in system call argument"),
    (16, "EBUSY", "resource busy or locked"),
    (17, "EEXIST", "file already exists"),
    (18, "EXDEV", "cross-device link not permitted"),
    (19, "ENODEV", "no such device"),
    (20, "ENOTDIR", "not a directory"),
    (21, "EISDIR", "illegal operation on a directory"),
    (22, "EINVAL", "invalid argument"),
    (23, "ENFILE", "file table overflow"),
    (24, "EMFILE", "too many open files"),
    (25, "ENOTTY", "inappropriate ioctl for device"),
    (26, "ETXTBSY", "text file is busy"),
    (27, "EFBIG", "file too large"),
    (28, "ENOSPC", "no space left on device"),
    (29, "ESPIPE", "invalid seek"),
    (30, "EROFS", "read-only file system"),
    (31, "EMLINK", "too many links"),
    (32, "EPIPE", "broken pipe"),
    (34, "ERANGE", "result too large"),
    (36, "ENAMETOOLONG", "name too long"),
    (38, "ENOSYS", "function not implemented"),
    (39, "ENOTEMPTY", "directory not empty"),
    (40, "ELOOP", "too many symbolic links encountered"),
    (49, "EUNATCH", "protocol driver not attached"),
    (61, "ENODATA", "no data available"),
    (64, "ENONET", "machine is not on the network"),
    (71, "EPROTO", "protocol error"),
    (75, "EOVERFLOW", "value too large for defined data type"),
    (84, "EILSEQ", "illegal byte sequence"),
    (88, "ENOTSOCK", "socket operation on non-socket"),
    (89, "EDESTADDRREQ", "destination address required"),
    (90, "EMSGSIZE", "message too long"),
    (91, "EPROTOTYPE", "protocol wrong type for socket"),
    (92, "ENOPROTOOPT", "protocol not available"),
    (93, "EPROTONOSUPPORT", "protocol not supported"),
    (94, "ESOCKTNOSUPPORT", "socket type not supported"),
    (95, "ENOTSUP", "operation not supported on socket"),
    (97, "EAFNOSUPPORT", "address family not supported"),
    (98, "EADDRINUSE", "address already in use"),
    (99, "EADDRNOTAVAIL", "address not available"),
    (100, "ENETDOWN", "network is down"),
    (101, "ENETUNREACH", "network is unreachable"),
    (103, "ECONNABORTED", "software caused connection abort"),
    (104, "ECONNRESET", "connection reset by peer"),
    (105, "ENOBUFS", "no buffer space available"),
    (106, "EISCONN", "socket is already connected"),
    (107, "ENOTCONN", "socket is not connected"),
    (108, "ESHUTDOWN", "cannot send after transport endpoint shutdown"),
    (110, "ETIMEDOUT", "connection timed out"),
    (111, "ECONNREFUSED", "connection refused"),
    (112, "EHOSTDOWN", "host is down"),
    (113, "EHOSTUNREACH", "host is unreachable"),
    (114, "EALREADY", "connection already in progress"),
    (121, "EREMOTEIO", "remote I/O error"),
    (125, "ECANCELED", "operation canceled"),
];

/// Node's `code` for an errno (`ENOENT`), or `Unknown system error -<n>` as Node says for one
/// libuv has no name for.
pub fn name(errno: i32) -> String {
    TABLE
        .iter()
        .find(|(n, _, _)| *n == errno)
        .map_or_else(|| format!("Unknown system error -{errno}"), |e| e.1.to_string())
}

/// The text of Node's error for a filesystem call (`String(err)` without its `Error: `
/// prefix): `ENOENT: no such file or directory, stat '/x'`. An error without an errno (which
/// Node's fs never raises) reads as its own text.
pub fn fs_error_text(error: &std::io::Error, syscall: &str, path: &Path) -> String {
    let Some(errno) = error.raw_os_error() else { return error.to_string() };
    match TABLE.iter().find(|(n, _, _)| *n == errno) {
        Some((_, name, description)) => format!("{name}: {description}, {syscall} '{}'", path.display()),
        None => format!("Unknown system error -{errno}: Unknown system error -{errno}, {syscall} '{}'", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors from upstream's Node.js: `String(err)` of `fs.readdirSync("/nonexist")` and
    /// `fs.statSync("/etc/passwd/x")`.
    #[test]
    fn reads_as_node() {
        let enoent = std::io::Error::from_raw_os_error(2);
        assert_eq!(
            fs_error_text(&enoent, "scandir", Path::new("/nonexist")),
            "ENOENT: no such file or directory, scandir '/nonexist'"
        );
        let enotdir = std::io::Error::from_raw_os_error(20);
        assert_eq!(
            fs_error_text(&enotdir, "stat", Path::new("/etc/passwd/x")),
            "ENOTDIR: not a directory, stat '/etc/passwd/x'"
        );
        assert_eq!(name(7), "E2BIG");
        assert_eq!(name(1000), "Unknown system error -1000");
    }
}
