//! The kernels under test: Debian's packages, fetched with apt sources of their own (the
//! machine's are left alone) and extracted once into the cache.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

use crate::vm::debian::mirror;

/// A kernel to test: the name on the command line and the Debian suite that ships it.
pub(super) struct Kernel {
    pub(super) name: &'static str,
    pub(super) suite: &'static str,
}

pub(super) const KERNELS: [Kernel; 3] = [
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

/// apt with sources of its own: the machine's mirror, the three suites.
pub(super) struct Apt {
    options: Vec<String>,
    debs: PathBuf,
}

/// A kernel extracted from its package.
pub(super) struct Image {
    pub(super) release: String,
    pub(super) vmlinuz: PathBuf,
    pub(super) modules: PathBuf,
}

impl Apt {
    pub(super) fn new(cache: &Path) -> Result<Self> {
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
    pub(super) fn kernel(&self, kernel: &Kernel) -> Result<Image> {
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
