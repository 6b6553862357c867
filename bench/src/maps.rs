//! Direct access to the maps of a loaded program, for what the datapath API does not offer:
//! batched updates (`BPF_MAP_UPDATE_BATCH`; aya 0.14 has no batch API) and the kernel's memory
//! accounting of each map (`memlock` in fdinfo).

use std::os::fd::{AsFd as _, AsRawFd as _, BorrowedFd};

use anyhow::{Context as _, Result, bail};
use aya::{
    Pod,
    maps::{MapFd, MapInfo},
    programs::Xdp,
};
use aya_obj::generated::{bpf_attr, bpf_cmd};

/// A map used by a program: its name, and a descriptor of its own.
pub struct ProgramMap {
    pub name: String,
    pub fd: MapFd,
}

/// Every map the loaded `program` uses.
pub fn program_maps(program: &Xdp) -> Result<Vec<ProgramMap>> {
    let info = program.info().context("cannot read the program's info")?;
    let ids = info
        .map_ids()
        .context("cannot read the program's map ids")?
        .unwrap_or_default();
    ids.into_iter()
        .map(|id| {
            let map = MapInfo::from_id(id).with_context(|| format!("map id {id}"))?;
            let name = map.name_as_str().unwrap_or("").to_owned();
            let fd = map
                .fd()
                .with_context(|| format!("descriptor of map {name}"))?;
            Ok(ProgramMap { name, fd })
        })
        .collect()
}

/// The map named `name` among the program's maps.
pub fn program_map(program: &Xdp, name: &str) -> Result<ProgramMap> {
    program_maps(program)?
        .into_iter()
        .find(|m| m.name == name)
        .with_context(|| format!("the program has no map {name}"))
}

/// Kernel memory charged to the map (`memlock:` in `/proc/self/fdinfo/FD`), in bytes.
pub fn memlock(fd: BorrowedFd<'_>) -> Result<u64> {
    let path = format!("/proc/self/fdinfo/{}", fd.as_raw_fd());
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    text.lines()
        .find_map(|line| line.strip_prefix("memlock:"))
        .with_context(|| format!("no memlock line in {path}"))?
        .trim()
        .parse()
        .with_context(|| format!("bad memlock line in {path}"))
}

/// The bytes of a slice of plain values.
fn bytes_of<T: Pod>(values: &[T]) -> &[u8] {
    // SAFETY: `Pod` types are plain data without padding requirements on reading.
    unsafe { std::slice::from_raw_parts(values.as_ptr().cast(), std::mem::size_of_val(values)) }
}

/// Elements per `BPF_MAP_UPDATE_BATCH` call.
const CHUNK: usize = 65_536;

/// Writes `keys[i] -> values[i]` with `BPF_MAP_UPDATE_BATCH`. For a per-CPU map, `values`
/// holds one value per possible CPU for each key (`per_key` values per key).
pub fn update_batch<K: Pod, V: Pod>(
    map: &ProgramMap,
    keys: &[K],
    values: &[V],
    per_key: usize,
) -> Result<()> {
    if values.len() != keys.len() * per_key {
        bail!(
            "{} keys need {} values, got {}",
            keys.len(),
            keys.len() * per_key,
            values.len()
        );
    }
    for (keys, values) in keys.chunks(CHUNK).zip(values.chunks(CHUNK * per_key)) {
        let (key_bytes, value_bytes) = (bytes_of(keys), bytes_of(values));
        // SAFETY: zero is a valid value of this plain C union.
        let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
        attr.batch.keys = key_bytes.as_ptr() as u64;
        attr.batch.values = value_bytes.as_ptr() as u64;
        attr.batch.count = u32::try_from(keys.len())?;
        attr.batch.map_fd = map.fd.as_fd().as_raw_fd().cast_unsigned();
        // SAFETY: the attribute points to buffers that outlive the call and hold `count` keys
        // and values of the map's sizes.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                bpf_cmd::BPF_MAP_UPDATE_BATCH as libc::c_long,
                &raw mut attr,
                libc::c_uint::try_from(std::mem::size_of::<bpf_attr>())
                    .expect("bpf_attr is a few dozen octets"),
            )
        };
        if rc != 0 {
            // SAFETY: reading back a plain integer the kernel wrote.
            let done = unsafe { attr.batch }.count;
            bail!(
                "BPF_MAP_UPDATE_BATCH on {} failed after {done} of {} elements: {}",
                map.name,
                keys.len(),
                std::io::Error::last_os_error()
            );
        }
    }
    Ok(())
}
