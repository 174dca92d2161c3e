//! `cargo xtask vmtest [KERNEL...]`: Debian's own kernels booted under qemu (`-accel tcg`),
//! each running `fwxdp-vmcheck` in every attach mode from a busybox initramfs.
//!
//! Kernel packages come from the machine's own Debian mirror, through an apt configuration
//! of their own under [`CACHE`] (the machine's sources are left alone), and stay cached
//! there, outside the repository.

use std::{
    fs,
    io::{BufRead as _, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

/// Kernel packages, extracted kernels, initramfs trees.
pub(crate) const CACHE: &str = "/var/cache/fwxdp-vmtest";

/// A kernel to test: the name on the command line and the Debian suite that ships it.
struct Kernel {
    name: &'static str,
    suite: &'static str,
}

const KERNELS: [Kernel; 3] = [
    Kernel {
        name: "5.10",
        suite: "bullseye",
    },
    Kernel {
        name: "6.1",
        suite: "bookworm",
    },
    Kernel {
        name: "6.12",
        suite: "bookworm-backports",
    },
];

/// The most one VM may take, boot to power-off (about a minute is usual); a VM that takes
/// longer is tried once more, then counted as failed.
const VM_TIMEOUT: Duration = Duration::from_mins(5);

/// Modules the checks need that Debian builds as modules: veth pairs, clsact and `cls_bpf`.
const MODULES: [&str; 3] = ["veth", "sch_ingress", "cls_bpf"];

pub(crate) fn run(names: &[String]) -> Result<()> {
    let kernels: Vec<&Kernel> = if names.is_empty() {
        KERNELS.iter().collect()
    } else {
        names
            .iter()
            .map(|name| {
                KERNELS
                    .iter()
                    .find(|k| k.name == name)
                    .with_context(|| format!("unknown kernel {name:?} (5.10, 6.1 or 6.12)"))
            })
            .collect::<Result<_>>()?
    };
    let binaries = build()?;
    let cache = Path::new(CACHE);
    let apt = Apt::new(cache)?;
    let mut failures = Vec::new();
    let mut times = Vec::new();
    for kernel in kernels {
        let started = Instant::now();
        println!("==> vmtest: Linux {} ({})", kernel.name, kernel.suite);
        let result = apt
            .kernel(kernel)
            .and_then(|image| initramfs(cache, &image, &binaries).map(|initrd| (image, initrd)))
            .and_then(|(image, initrd)| match boot(&image.vmlinuz, &initrd) {
                Err(Boot::TimedOut) => {
                    println!("    the VM timed out; booting it once more");
                    boot(&image.vmlinuz, &initrd).map_err(Boot::into_error)
                }
                // Seen once on 6.12 under heavy load on the host: the guest went away in the
                // middle of a check. Its console is printed; a second boot must pass whole.
                Err(Boot::EndedEarly(error)) => {
                    println!("    {error:#}\n    the VM ended early; booting it once more");
                    boot(&image.vmlinuz, &initrd).map_err(Boot::into_error)
                }
                other => other.map_err(Boot::into_error),
            });
        let seconds = started.elapsed().as_secs();
        times.push(format!("{} {seconds} s", kernel.name));
        if let Err(error) = result {
            println!("vmtest: Linux {}: FAIL: {error:#}", kernel.name);
            failures.push(kernel.name);
        }
    }
    println!("vmtest times: {}", times.join(", "));
    if !failures.is_empty() {
        bail!("vmtest failed on Linux {}", failures.join(", "));
    }
    Ok(())
}

/// The binaries that go into every VM, built in release mode and stripped.
struct Binaries {
    fwxdp: PathBuf,
    vmcheck: PathBuf,
}

fn build() -> Result<Binaries> {
    let target = crate::build_release("fwxdp-vmcheck")?;
    Ok(Binaries {
        fwxdp: target.join("fwxdp"),
        vmcheck: target.join("fwxdp-vmcheck"),
    })
}

/// apt with sources of its own: the machine's mirror, the three suites.
struct Apt {
    options: Vec<String>,
    debs: PathBuf,
}

/// A kernel extracted from its package.
struct Image {
    release: String,
    vmlinuz: PathBuf,
    modules: PathBuf,
}

impl Apt {
    fn new(cache: &Path) -> Result<Self> {
        let dir = cache.join("apt");
        for sub in ["lists/partial", "archives/partial"] {
            fs::create_dir_all(dir.join(sub)).context("create the apt cache")?;
        }
        let mirror = mirror()?;
        let sources = KERNELS
            .iter()
            .map(|k| {
                format!(
                    "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {mirror} {} main",
                    k.suite
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        fs::write(dir.join("sources.list"), sources).context("write sources.list")?;
        let d = dir.display();
        let options = vec![
            "-o".into(),
            format!("Dir::Etc::sourcelist={d}/sources.list"),
            "-o".into(),
            "Dir::Etc::sourceparts=-".into(),
            "-o".into(),
            format!("Dir::State::Lists={d}/lists"),
            "-o".into(),
            format!("Dir::Cache={d}"),
            "-o".into(),
            format!("Dir::Cache::archives={d}/archives"),
            "-o".into(),
            "APT::Sandbox::User=root".into(),
        ];
        let apt = Self {
            options,
            debs: cache.join("debs"),
        };
        fs::create_dir_all(&apt.debs).context("create the package cache")?;
        crate::step("apt-get update (kernel suites, own lists)", {
            let mut cmd = Command::new("apt-get");
            cmd.args(&apt.options).args(["update", "-q"]);
            cmd
        })?;
        Ok(apt)
    }

    fn query(&self, args: &[&str]) -> Result<String> {
        let out = Command::new("apt-cache")
            .args(&self.options)
            .args(args)
            .output()
            .context("run apt-cache")?;
        if !out.status.success() {
            bail!(
                "apt-cache {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The kernel image of `kernel`'s suite, downloaded (once) and extracted.
    fn kernel(&self, kernel: &Kernel) -> Result<Image> {
        // linux-image-amd64 of the suite names the versioned image package.
        let madison = self.query(&["madison", "linux-image-amd64"])?;
        let version = madison
            .lines()
            .find(|line| {
                line.split('|').nth(2).is_some_and(|src| {
                    src.split_whitespace()
                        .nth(1)
                        .is_some_and(|s| s.starts_with(&format!("{}/", kernel.suite)))
                })
            })
            .and_then(|line| line.split('|').nth(1))
            .map(str::trim)
            .with_context(|| format!("no linux-image-amd64 in {}", kernel.suite))?
            .to_owned();
        let show = self.query(&["show", &format!("linux-image-amd64={version}")])?;
        // `Depends: linux-image-6.1.0-50-amd64 (= 6.1.176-1)`
        let depends = show
            .lines()
            .find_map(|l| l.strip_prefix("Depends: "))
            .with_context(|| format!("linux-image-amd64={version} names no image"))?;
        let package = depends
            .split([' ', ','])
            .next()
            .unwrap_or_default()
            .to_owned();
        let image_version = depends
            .split("(= ")
            .nth(1)
            .and_then(|v| v.split(')').next())
            .unwrap_or(&version)
            .to_owned();
        let extracted = self.debs.join(format!("{package}_{image_version}"));
        if !extracted.join("boot").exists() {
            let deb = self.download(&package, &image_version)?;
            let staging = self.debs.join(format!("{package}_{image_version}.partial"));
            drop(fs::remove_dir_all(&staging));
            crate::step(&format!("dpkg -x {}", deb.display()), {
                let mut cmd = Command::new("dpkg");
                cmd.arg("-x").arg(&deb).arg(&staging);
                cmd
            })?;
            fs::rename(&staging, &extracted).context("keep the extracted kernel")?;
            drop(fs::remove_file(&deb));
        }
        let vmlinuz = fs::read_dir(extracted.join("boot"))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
            })
            .context("the package has no vmlinuz")?;
        let release = vmlinuz
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("vmlinuz-"))
            .context("vmlinuz name")?
            .to_owned();
        let modules = extracted.join("lib/modules").join(&release);
        println!("    {package} {image_version}: Linux {release}");
        Ok(Image {
            release,
            vmlinuz,
            modules,
        })
    }

    fn download(&self, package: &str, version: &str) -> Result<PathBuf> {
        crate::step(&format!("apt-get download {package}={version}"), {
            let mut cmd = Command::new("apt-get");
            cmd.current_dir(&self.debs).args(&self.options).args([
                "download",
                "-q",
                &format!("{package}={version}"),
            ]);
            cmd
        })?;
        fs::read_dir(&self.debs)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| {
                p.extension().is_some_and(|e| e == "deb")
                    && p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(&format!("{package}_")))
            })
            .with_context(|| format!("apt-get download left no {package} package"))
    }
}

/// The Debian mirror of the machine's own sources.
pub(crate) fn mirror() -> Result<String> {
    let mut texts: Vec<String> = fs::read_to_string("/etc/apt/sources.list")
        .into_iter()
        .collect();
    if let Ok(dir) = fs::read_dir("/etc/apt/sources.list.d") {
        for entry in dir.filter_map(Result::ok) {
            texts.extend(fs::read_to_string(entry.path()).ok());
        }
    }
    for text in &texts {
        for line in text.lines() {
            let line = line.trim();
            let url = if let Some(uris) = line.strip_prefix("URIs:") {
                uris.split_whitespace().next()
            } else if line.starts_with("deb ") {
                line.split_whitespace().find(|w| w.starts_with("http"))
            } else {
                None
            };
            if let Some(url) = url
                && url.trim_end_matches('/').ends_with("/debian")
            {
                return Ok(url.trim_end_matches('/').to_owned());
            }
        }
    }
    bail!("no Debian mirror in /etc/apt/sources.list or sources.list.d")
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
for m in /modules/*.ko; do insmod "$m" 2>/dev/null; done
ip link set lo up
echo "vmcheck: booted $(uname -r)"
FWXDP_BIN=/usr/bin/fwxdp /usr/bin/fwxdp-vmcheck
echo "vmcheck: exit $?"
poweroff -f
"#;

/// Builds the initramfs (an uncompressed newc cpio) of `image` with the binaries.
fn initramfs(cache: &Path, image: &Image, binaries: &Binaries) -> Result<PathBuf> {
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

/// Why a boot did not pass.
enum Boot {
    /// The VM did not power off in time.
    TimedOut,
    /// The console ended before the checks did (the guest panicked or reset).
    EndedEarly(anyhow::Error),
    /// It ran and a check failed, or it could not run.
    Failed(anyhow::Error),
}

impl Boot {
    fn into_error(self) -> anyhow::Error {
        match self {
            Self::TimedOut => {
                anyhow::anyhow!("the VM did not finish within {} s", VM_TIMEOUT.as_secs())
            }
            Self::Failed(error) | Self::EndedEarly(error) => error,
        }
    }
}

impl From<anyhow::Error> for Boot {
    fn from(error: anyhow::Error) -> Self {
        Self::Failed(error)
    }
}

/// Boots the kernel with the initramfs and judges the verdict lines on its console.
fn boot(vmlinuz: &Path, initrd: &Path) -> Result<(), Boot> {
    let mut child = Command::new("qemu-system-x86_64")
        .args(["-accel", "tcg", "-cpu", "max", "-smp", "2", "-m", "1024"])
        .arg("-kernel")
        .arg(vmlinuz)
        .arg("-initrd")
        .arg(initrd)
        .args([
            "-append",
            "console=ttyS0 panic=-1 quiet loglevel=3 random.trust_cpu=on",
            "-nographic",
            "-no-reboot",
            "-nic",
            "none",
            "-monitor",
            "none",
            "-serial",
            "stdio",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("start qemu-system-x86_64")?;
    let stdout = child.stdout.take().context("qemu's console")?;
    let (lines, received) = mpsc::channel();
    let reader = thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + VM_TIMEOUT;
    let (mut passed, mut failed, mut exit) = (0, 0, None);
    // The console's last lines, to show when the checks never finish.
    let mut tail: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match received.recv_timeout(left) {
            Ok(line) => {
                if tail.len() == 40 {
                    tail.pop_front();
                }
                tail.push_back(line.clone());
                if let Some(step) = line.find("vmstep: ").map(|at| &line[at..]) {
                    println!("      {step}");
                }
                if let Some(verdict) = line.find("vmcheck: ").map(|at| &line[at..]) {
                    println!("    {verdict}");
                    if verdict.contains(": PASS") {
                        passed += 1;
                    } else if verdict.contains(": FAIL") {
                        failed += 1;
                    } else if let Some(code) = verdict.strip_prefix("vmcheck: exit ") {
                        exit = code.trim().parse::<i32>().ok();
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                drop(child.kill());
                drop(child.wait());
                return Err(Boot::TimedOut);
            }
        }
    }
    drop(child.wait());
    drop(reader.join());
    match exit {
        Some(0) if failed == 0 && passed == 4 => Ok(()),
        Some(code) => {
            Err(anyhow::anyhow!("{passed} modes passed, {failed} failed (exit {code})").into())
        }
        None => Err(Boot::EndedEarly(anyhow::anyhow!(
            "the checks never finished ({passed} modes passed, {failed} failed); the console \
             ended with:\n{}",
            Vec::from(tail).join("\n")
        ))),
    }
}
