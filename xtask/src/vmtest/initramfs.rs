//! The initramfs every VM boots: busybox, fwxdp and `fwxdp-vmcheck` with the libraries they
//! load, the kernel's modules the checks need, and an init that runs the checks.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

use super::kernels::Image;

/// Modules the checks need that Debian builds as modules: veth pairs, clsact and `cls_bpf`.
/// Loaded in this order, each after what it depends on.
const MODULES: [&str; 9] = [
    "veth",
    "sch_ingress",
    "cls_bpf",
    "ip_tunnel",
    "tunnel4",
    "gre",
    "ip_gre",
    "ipip",
    "sit",
];

/// The binaries that go into every VM, built in release mode and stripped.
pub(super) struct Binaries {
    fwxdp: PathBuf,
    vmcheck: PathBuf,
}

pub(super) fn build() -> Result<Binaries> {
    let target = crate::build_release("fwxdp-vmcheck")?;
    Ok(Binaries {
        fwxdp: target.join("fwxdp"),
        vmcheck: target.join("fwxdp-vmcheck"),
    })
}

/// The init of every VM: mounts, modules, the checks, power off.
const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs run /run
mount -t tmpfs tmp /tmp
# No bpffs: fwxdp mounts it where it is missing, and vmcheck proves that too.
for m in $(cat /modules/order); do insmod "/modules/$m.ko" 2>/dev/null; done
ip link set lo up
echo "vmcheck: booted $(uname -r)"
FWXDP_BIN=/usr/bin/fwxdp /usr/bin/fwxdp-vmcheck
echo "vmcheck: exit $?"
poweroff -f
"#;

/// Builds the initramfs (an uncompressed newc cpio) of `image` with the binaries.
pub(super) fn initramfs(cache: &Path, image: &Image, binaries: &Binaries) -> Result<PathBuf> {
    let tree = cache.join("initramfs").join(&image.release);
    drop(fs::remove_dir_all(&tree));
    for dir in [
        "bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "run", "tmp", "modules", "etc",
        "var",
    ] {
        fs::create_dir_all(tree.join(dir))?;
    }
    std::os::unix::fs::symlink("/run", tree.join("var/run"))?;
    fs::copy("/bin/busybox", tree.join("bin/busybox")).context("copy busybox")?;
    let init = tree.join("init");
    fs::write(&init, INIT)?;
    fs::set_permissions(&init, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let programs = [
        (binaries.fwxdp.clone(), "usr/bin/fwxdp"),
        (binaries.vmcheck.clone(), "usr/bin/fwxdp-vmcheck"),
        (which("ip")?, "usr/sbin/ip"),
        (which("nsenter")?, "usr/bin/nsenter"),
    ];
    for (from, to) in &programs {
        let dest = tree.join(to);
        fs::copy(from, &dest).with_context(|| format!("copy {}", from.display()))?;
        crate::step(&format!("strip {to}"), {
            let mut cmd = Command::new("strip");
            cmd.arg(&dest);
            cmd
        })?;
        for library in libraries(from)? {
            let dest = tree.join(library.strip_prefix("/").unwrap_or(&library));
            if !dest.exists() {
                fs::create_dir_all(dest.parent().unwrap_or(&tree))?;
                fs::copy(&library, &dest).with_context(|| format!("copy {}", library.display()))?;
            }
        }
    }
    for module in MODULES {
        copy_module(&image.modules, module, &tree.join("modules"))?;
    }
    fs::write(tree.join("modules/order"), MODULES.join("\n"))?;
    let initrd = cache
        .join("initramfs")
        .join(format!("{}.cpio", image.release));
    let list = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cd '{}' && find . | cpio -o -H newc --quiet > '{}'",
            tree.display(),
            initrd.display()
        ))
        .status()
        .context("run cpio")?;
    if !list.success() {
        bail!("cpio failed ({list})");
    }
    Ok(initrd)
}

fn which(program: &str) -> Result<PathBuf> {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
        let path = Path::new(dir).join(program);
        if path.exists() {
            return Ok(path);
        }
    }
    bail!("{program} is not installed")
}

/// The shared libraries `program` loads, the dynamic loader included, as `ldd` lists them.
fn libraries(program: &Path) -> Result<Vec<PathBuf>> {
    let out = Command::new("ldd")
        .arg(program)
        .output()
        .context("run ldd")?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().find(|w| w.starts_with('/')))
        .map(PathBuf::from)
        .collect())
}

/// Copies `name`.ko (decompressed when Debian ships it as .ko.xz) from `modules` to `dest`.
fn copy_module(modules: &Path, name: &str, dest: &Path) -> Result<()> {
    let found = find_file(modules, &[format!("{name}.ko"), format!("{name}.ko.xz")])
        .with_context(|| format!("module {name} not in {}", modules.display()))?;
    let out = dest.join(format!("{name}.ko"));
    if found.extension().is_some_and(|e| e == "xz") {
        let data = Command::new("xz")
            .arg("-dc")
            .arg(&found)
            .output()
            .context("run xz")?;
        if !data.status.success() {
            bail!("xz -d {}", found.display());
        }
        fs::write(out, data.stdout)?;
    } else {
        fs::copy(found, out)?;
    }
    Ok(())
}

fn find_file(dir: &Path, names: &[String]) -> Option<PathBuf> {
    for entry in fs::read_dir(dir).ok()?.filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_file(&path, names) {
                return Some(found);
            }
        } else if path
            .file_name()
            .is_some_and(|n| names.iter().any(|want| n.to_string_lossy() == *want))
        {
            return Some(path);
        }
    }
    None
}
