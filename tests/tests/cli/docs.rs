//! The documentation generated from the command line's definition: completion scripts
//! that a shell loads and that complete commands and options, and a man page for fwxdp and
//! each of its commands that `man` renders.

use std::{fs, process::Command};

use fwxdp_tests::lab::fwxdp_bin;

fn fwxdp(args: &[&str]) -> String {
    let out = Command::new(fwxdp_bin())
        .args(args)
        .output()
        .expect("run fwxdp");
    assert!(out.status.success(), "fwxdp {args:?}: {out:?}");
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// What bash's completion offers for the words `line` (the last one being completed).
fn bash_completes(script: &str, line: &[&str]) -> Vec<String> {
    let words = line
        .iter()
        .map(|w| format!("'{w}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let cword = line.len() - 1;
    let program = format!(
        "{script}\nCOMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE='{}'; \
         COMP_POINT=${{#COMP_LINE}}; _fwxdp fwxdp '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        line.join(" "),
        line[cword],
        line[cword.saturating_sub(1)],
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .output()
        .expect("run bash");
    assert!(out.status.success(), "bash: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completes_commands_and_their_options() {
    let script = fwxdp(&["completions", "bash"]);
    let commands = bash_completes(&script, &["fwxdp", "at"]);
    assert!(commands.iter().any(|c| c == "attach"), "{commands:?}");
    assert!(!commands.iter().any(|c| c == "detach"), "{commands:?}");
    let options = bash_completes(&script, &["fwxdp", "attach", "--mo"]);
    assert!(options.iter().any(|o| o == "--mode"), "{options:?}");
    assert!(options.iter().any(|o| o == "--monitor"), "{options:?}");
    let modes = bash_completes(&script, &["fwxdp", "attach", "--mode", ""]);
    for mode in ["auto", "native", "generic", "tc"] {
        assert!(modes.iter().any(|m| m == mode), "{mode} in {modes:?}");
    }
}

#[test]
fn zsh_and_fish_scripts_name_every_command() {
    for shell in ["zsh", "fish"] {
        let script = fwxdp(&["completions", shell]);
        for command in [
            "attach", "detach", "status", "block", "run", "reload", "confirm",
        ] {
            assert!(script.contains(command), "{shell} lacks {command}");
        }
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let out = Command::new(fwxdp_bin())
        .args(["completions", "tcsh"])
        .output()
        .expect("run fwxdp");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("tcsh"));
}

#[test]
fn man_pages_cover_every_command_and_render() {
    let dir = std::env::temp_dir().join(format!("fwxdp-man-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("a directory for the pages");
    let listed = fwxdp(&["man-pages", dir.to_str().expect("UTF-8 path")]);
    let help = fwxdp(&["--help"]);
    // Every command the help lists (but `help` itself) has a page, and so does fwxdp.
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() > 15, "{help}");
    for name in commands
        .iter()
        .map(|c| format!("fwxdp-{c}"))
        .chain(["fwxdp".to_owned()])
    {
        let page = dir.join(format!("{name}.8"));
        assert!(listed.contains(page.to_str().expect("UTF-8")), "{listed}");
        let out = Command::new("man")
            .arg("-l")
            .arg(&page)
            .env("MANWIDTH", "100")
            .output()
            .expect("run man");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "man -l {}: {out:?}", page.display());
        assert!(
            text.contains("NAME") && text.contains(&name),
            "{name}: {text}"
        );
        assert!(text.contains("SYNOPSIS"), "{name}: {text}");
    }
    let attach = fs::read_to_string(dir.join("fwxdp-attach.8")).expect("the attach page");
    // The global options are on each command's page, and the allow list's syntax is there.
    assert!(attach.contains("pin\\-root"), "{attach}");
    assert!(attach.contains("22,80,443"), "{attach}");
    let _: std::io::Result<()> = fs::remove_dir_all(&dir);
}
