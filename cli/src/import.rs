//! `rvsadm --import-keepalived FILE` (rvs extension): reads keepalived.conf
//! and prints its `virtual_server` blocks as the `services` block of an rvs
//! config (RON) on stdout; every key rvs cannot carry over is named, with
//! its line, on stderr. It needs no daemon. Exit status 0 when the file was
//! read (even with notes), 2 when it could not be read or parsed, 255 for
//! a bad command line, as ipvsadm's input errors.

use std::io::Write;

/// The option's spellings.
const OPTION: &str = "--import-keepalived";

/// True when `arg` asks for the import.
pub fn is_import(arg: &str) -> bool {
    arg == OPTION || arg.starts_with("--import-keepalived=")
}

/// Runs the import; `args` starts at the option.
pub fn run(program: &str, args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let first = args.first().map_or("", String::as_str);
    let (path, extra) = match first.strip_prefix("--import-keepalived=") {
        Some(p) => (Some(p), args.get(1..).unwrap_or(&[])),
        None => (
            args.get(1).map(String::as_str),
            args.get(2..).unwrap_or(&[]),
        ),
    };
    let Some(path) = path.filter(|p| !p.is_empty()) else {
        let _ = writeln!(err, "{OPTION}: missing argument");
        return 255;
    };
    if let Some(x) = extra.first() {
        let _ = writeln!(err, "{program}: {OPTION} takes one file; unexpected `{x}`");
        return 255;
    }
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(err, "{program}: cannot read {path}: {e}");
            return 2;
        }
    };
    let imported = match control::keepalived::import(&text) {
        Ok(i) => i,
        Err(e) => {
            let _ = writeln!(err, "{path}:{e}");
            return 2;
        }
    };
    let ron = match imported.to_ron() {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "{program}: {e}");
            return 2;
        }
    };
    for n in &imported.notes {
        let _ = writeln!(err, "{path}:{n}");
    }
    let _ = out.write_all(ron.as_bytes());
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_on(text: Option<&str>, extra: &[&str]) -> (i32, String, String) {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("rvsadm-import-{}-{n}.conf", std::process::id()));
        let mut args = vec![OPTION.to_owned()];
        if let Some(t) = text {
            std::fs::write(&path, t).unwrap();
            args.push(path.display().to_string());
        }
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run("rvsadm", &args, &mut out, &mut err);
        let _ = std::fs::remove_file(&path);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn prints_services_and_names_unsupported_keys() {
        let conf = "vrrp_instance VI_1 {\n state MASTER\n}\nvirtual_server 10.0.0.1 80 {\n lb_algo rr\n lb_kind NAT\n real_server 10.0.0.2 8080 {\n  weight 3\n  TCP_CHECK {\n   connect_timeout 2\n  }\n }\n}\n";
        let (code, out, err) = run_on(Some(conf), &[]);
        assert_eq!(code, 0, "{err}");
        assert!(out.starts_with("services: ["), "{out}");
        assert!(out.contains("tcp: \"10.0.0.1:80\""), "{out}");
        assert!(out.contains("rip: \"10.0.0.2:8080\""), "{out}");
        assert!(out.contains("kind: tcp"), "{out}");
        assert!(
            err.contains(":line 1: unsupported key `vrrp_instance`"),
            "{err}"
        );
    }

    #[test]
    fn errors() {
        let (code, _, err) = run_on(Some("virtual_server 10.0.0.1 80 {\n"), &[]);
        assert_eq!(code, 2);
        assert!(
            err.contains(":line 1: the `virtual_server` block is not closed"),
            "{err}"
        );
        let (code, _, err) = run_on(None, &[]);
        assert_eq!(
            (code, err.as_str()),
            (255, "--import-keepalived: missing argument\n")
        );
        let (code, _, err) = run_on(Some(""), &["x"]);
        assert_eq!(code, 255);
        assert!(err.contains("unexpected `x`"), "{err}");
        let mut err = Vec::new();
        let code = run(
            "rvsadm",
            &[OPTION.into(), "/nonexistent/k.conf".into()],
            &mut Vec::new(),
            &mut err,
        );
        assert_eq!(code, 2);
    }
}
