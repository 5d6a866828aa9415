//! Loading, attaching and pinning, or adopting what an earlier run pinned.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use aya::{
    programs::{
        links::{FdLink, LinkError, PinnedLink},
        CgroupAttachMode, Program,
    },
    Ebpf, EbpfLoader,
};

use super::{bpffs, maps::InterceptMaps, OBJECT, PROGRAMS};

/// Version of the pinned layout's format (map shapes and program set).
const LAYOUT_FORMAT: &str = "v1";

/// The directory name this build's programs are pinned under: the format and
/// a hash of the eBPF object. A daemon adopts only pins of its own build; an
/// upgraded one attaches its own programs and then removes the older ones.
fn layout_name() -> String {
    format!("{LAYOUT_FORMAT}-{:016x}", fnv1a(OBJECT))
}

/// FNV-1a: stable across builds of the daemon, unlike std's hashers.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[derive(Debug, thiserror::Error)]
pub enum InterceptError {
    #[error("preparing the bpf pin directory {dir}: {source}")]
    PinDir { dir: PathBuf, source: io::Error },
    #[error("opening cgroup {path} to attach to: {source}")]
    Cgroup { path: PathBuf, source: io::Error },
    #[error("loading the eBPF object: {0}")]
    Load(#[from] Box<aya::EbpfError>),
    #[error("eBPF program {name}: {message}")]
    Program { name: String, message: String },
    #[error("eBPF map {name}: {message}")]
    Map { name: String, message: String },
    #[error("removing pins under {dir}: {source}")]
    Detach { dir: PathBuf, source: io::Error },
}

/// Attached (or adopted) programs and the maps that steer them.
pub struct Interception {
    pub layout_dir: PathBuf,
    /// True when the programs were already pinned and attached by an earlier run.
    pub adopted: bool,
    pub maps: InterceptMaps,
    /// Layout directories of other builds removed after attaching this one.
    pub retired: Vec<PathBuf>,
}

impl Interception {
    /// Adopts pinned programs when all of them are there; otherwise loads the
    /// object, lets `configure` fill the maps, and only then attaches, so no
    /// connect ever sees half-written settings.
    pub fn open(
        pin_dir: &Path,
        attach_cgroup: &Path,
        configure: impl FnOnce(&mut InterceptMaps) -> Result<(), InterceptError>,
    ) -> Result<Self, InterceptError> {
        let layout_dir = pin_dir.join(layout_name());
        bpffs::ensure(&layout_dir).map_err(|source| InterceptError::PinDir {
            dir: layout_dir.clone(),
            source,
        })?;
        if all_links_pinned(&layout_dir) {
            let mut maps = InterceptMaps::from_pins(&layout_dir)?;
            configure(&mut maps)?;
            // Left over when an upgrade was interrupted before it retired them.
            let retired = remove_other_layouts(pin_dir, &layout_dir)?;
            return Ok(Self {
                layout_dir,
                adopted: true,
                maps,
                retired,
            });
        }
        let mut ebpf = EbpfLoader::new()
            .default_map_pin_directory(&layout_dir)
            .load(OBJECT)
            .map_err(Box::new)?;
        let mut maps = InterceptMaps::from_ebpf(&mut ebpf)?;
        configure(&mut maps)?;
        let cgroup = fs::File::open(attach_cgroup).map_err(|source| InterceptError::Cgroup {
            path: attach_cgroup.to_owned(),
            source,
        })?;
        for name in PROGRAMS {
            attach_and_pin(&mut ebpf, name, &cgroup, &layout_dir)?;
        }
        // Only now that this build's programs run: retire an older build's.
        let retired = remove_other_layouts(pin_dir, &layout_dir)?;
        Ok(Self {
            retired,
            layout_dir,
            adopted: false,
            maps,
        })
    }
}

/// Names of the programs whose links are pinned in `layout_dir` now.
pub fn pinned_links(layout_dir: &Path) -> Vec<String> {
    PROGRAMS
        .iter()
        .filter(|p| link_pin(layout_dir, p).exists())
        .map(|p| p.to_string())
        .collect()
}

fn link_pin(layout_dir: &Path, program: &str) -> PathBuf {
    layout_dir.join(format!("link_{program}"))
}

fn all_links_pinned(layout_dir: &Path) -> bool {
    PROGRAMS
        .iter()
        .all(|p| PinnedLink::from_pin(link_pin(layout_dir, p)).is_ok())
}

fn attach_and_pin(
    ebpf: &mut Ebpf,
    name: &str,
    cgroup: &fs::File,
    layout_dir: &Path,
) -> Result<(), InterceptError> {
    let err = |message: String| InterceptError::Program {
        name: name.to_string(),
        message,
    };
    let program = ebpf
        .program_mut(name)
        .ok_or_else(|| err("missing from the object".into()))?;
    // bpf_link attachments always coexist with other programs at the cgroup,
    // and the kernel rejects any attach flag on them: "Single" sends none.
    let mode = CgroupAttachMode::Single;
    let link: FdLink = match program {
        Program::CgroupSockAddr(p) => {
            p.load().map_err(|e| err(verifier_message(&e)))?;
            let id = p.attach(cgroup, mode).map_err(|e| err(error_chain(&e)))?;
            let link = p.take_link(id).map_err(|e| err(e.to_string()))?;
            link.try_into().map_err(|e: LinkError| err(e.to_string()))?
        }
        Program::SockOps(p) => {
            p.load().map_err(|e| err(verifier_message(&e)))?;
            let id = p.attach(cgroup, mode).map_err(|e| err(error_chain(&e)))?;
            let link = p.take_link(id).map_err(|e| err(e.to_string()))?;
            link.try_into().map_err(|e: LinkError| err(e.to_string()))?
        }
        Program::CgroupSock(p) => {
            p.load().map_err(|e| err(verifier_message(&e)))?;
            let id = p.attach(cgroup, mode).map_err(|e| err(error_chain(&e)))?;
            let link = p.take_link(id).map_err(|e| err(e.to_string()))?;
            link.try_into().map_err(|e: LinkError| err(e.to_string()))?
        }
        _ => return Err(err("unexpected program type".into())),
    };
    let pin = link_pin(layout_dir, name);
    // A stale pin from an interrupted run: the new link is already attached,
    // so replacing the pin opens no window.
    let _ = fs::remove_file(&pin);
    link.pin(&pin)
        .map_err(|e| err(format!("pinning {}: {e}", pin.display())))?;
    Ok(())
}

/// An error with its sources: aya's Display omits the errno.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The verifier's log is the useful part of a load failure.
fn verifier_message(e: &aya::programs::ProgramError) -> String {
    match e {
        aya::programs::ProgramError::LoadError {
            io_error,
            verifier_log,
        } => {
            format!("load failed: {io_error}\n{verifier_log}")
        }
        other => other.to_string(),
    }
}

/// Detaches everything a gateway pinned under `pin_dir`: removing the link pins
/// detaches the programs (nothing else holds them), removing the map pins
/// frees the maps. Returns the pins removed.
pub fn detach(pin_dir: &Path) -> Result<Vec<PathBuf>, InterceptError> {
    let mut removed = Vec::new();
    if !pin_dir.exists() {
        return Ok(removed);
    }
    for layout in layout_dirs(pin_dir)? {
        removed.extend(remove_layout(pin_dir, &layout)?);
    }
    // The pin directory itself may be shared (e.g. /sys/fs/bpf): only an
    // empty one is removed.
    let _ = fs::remove_dir(pin_dir);
    Ok(removed)
}

/// Removes every layout under `pin_dir` except `keep`; returns the ones removed.
fn remove_other_layouts(pin_dir: &Path, keep: &Path) -> Result<Vec<PathBuf>, InterceptError> {
    let mut retired = Vec::new();
    for layout in layout_dirs(pin_dir)? {
        if layout != keep {
            remove_layout(pin_dir, &layout)?;
            retired.push(layout);
        }
    }
    Ok(retired)
}

fn layout_dirs(pin_dir: &Path) -> Result<Vec<PathBuf>, InterceptError> {
    let err = |source| InterceptError::Detach {
        dir: pin_dir.to_owned(),
        source,
    };
    let mut dirs = Vec::new();
    for entry in fs::read_dir(pin_dir).map_err(err)? {
        let path = entry.map_err(err)?.path();
        if path.is_dir() {
            dirs.push(path);
        }
    }
    Ok(dirs)
}

/// Removes one layout's pins, links first so programs stop before their maps go.
fn remove_layout(pin_dir: &Path, layout: &Path) -> Result<Vec<PathBuf>, InterceptError> {
    let err = |source| InterceptError::Detach {
        dir: pin_dir.to_owned(),
        source,
    };
    let mut entries: Vec<PathBuf> = fs::read_dir(layout)
        .map_err(err)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort_by_key(|p| !is_link_pin(p));
    for entry in &entries {
        fs::remove_file(entry).map_err(err)?;
    }
    fs::remove_dir(layout).map_err(err)?;
    Ok(entries)
}

fn is_link_pin(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("link_"))
}
