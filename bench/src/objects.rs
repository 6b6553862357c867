//! The reference and traffic programs (`bench/ebpf`, [`anchor_bench::programs`]), loaded on
//! their own.

use anchor_bench::programs;
use anchor_common::{BindingKey, BindingValue};
use anyhow::{Context as _, Result, bail};
use aya::{
    Ebpf, EbpfLoader,
    maps::{Array, HashMap, PerCpuArray, xdp::DevMap},
    programs::{Program, Xdp, XdpMode},
};

/// A loaded single-program object. Dropping it detaches the program and unloads it.
pub struct RefProgram {
    ebpf: Ebpf,
    name: &'static str,
}

impl RefProgram {
    /// `ref_pass`: returns XDP_PASS.
    pub fn pass() -> Result<Self> {
        Self::load(&mut EbpfLoader::new(), programs::REF_PASS, "ref_pass")
    }

    /// `ref_encap`: adjust head, constant header, XDP_TX.
    pub fn encap() -> Result<Self> {
        Self::load(&mut EbpfLoader::new(), programs::REF_ENCAP, "ref_encap")
    }

    /// `ref_lookup`: one hash-map lookup of the destination /64, XDP_PASS on a hit; `key` is put
    /// in its map.
    pub fn lookup(key: BindingKey) -> Result<Self> {
        let mut program = Self::load(&mut EbpfLoader::new(), programs::REF_LOOKUP, "ref_lookup")?;
        let map = program
            .ebpf
            .map_mut("LOOKUP")
            .context("ref_lookup has no map LOOKUP")?;
        let mut lookup: HashMap<_, BindingKey, BindingValue> =
            HashMap::try_from(map).context("LOOKUP is not a hash map of bindings")?;
        lookup
            .insert(key, BindingValue::redirect(0, 0), 0)
            .context("cannot insert into LOOKUP")?;
        Ok(program)
    }

    /// `ref_redirect`: redirects every frame to `ifindex`.
    pub fn redirect(ifindex: u32) -> Result<Self> {
        let mut loader = EbpfLoader::new();
        loader.override_global("TARGET_IFINDEX", &ifindex, true);
        Self::load(&mut loader, programs::REF_REDIRECT, "ref_redirect")
    }

    /// `ref_redirect_map`: redirects every frame to `ifindex` (of the calling thread's
    /// namespace) through its device map.
    pub fn redirect_map(ifindex: u32) -> Result<Self> {
        let mut loader = EbpfLoader::new();
        loader.override_global("TARGET_IFINDEX", &ifindex, true);
        let mut program = Self::load(&mut loader, programs::REF_REDIRECT_MAP, "ref_redirect_map")?;
        let map = program
            .ebpf
            .map_mut("PORTS")
            .context("ref_redirect_map has no map PORTS")?;
        let mut ports = DevMap::try_from(map).context("PORTS is not a device map")?;
        ports
            .set(ifindex, ifindex, None, 0)
            .context("cannot insert into PORTS")?;
        Ok(program)
    }

    /// `ref_fib`: FIB lookup, hop limit, MACs, redirect.
    pub fn fib() -> Result<Self> {
        Self::load(&mut EbpfLoader::new(), programs::REF_FIB, "ref_fib")
    }

    /// `bench_gen`: writes `header` (Ethernet + IPv6 + UDP + 2 payload bytes) over every frame
    /// and sends it with XDP_TX.
    pub fn generator(header: &[u64; 8]) -> Result<Self> {
        let mut loader = EbpfLoader::new();
        loader.override_global("GEN_HEADER", header, true);
        Self::load(&mut loader, programs::BENCH_GEN, "bench_gen")
    }

    /// `bench_sink`: counts frames and drops them.
    pub fn sink() -> Result<Self> {
        Self::load(&mut EbpfLoader::new(), programs::BENCH_SINK, "bench_sink")
    }

    fn load(loader: &mut EbpfLoader<'_>, object: &[u8], name: &'static str) -> Result<Self> {
        let mut ebpf = loader
            .load(object)
            .with_context(|| format!("cannot load the object of {name}"))?;
        let program: &mut Xdp = ebpf
            .program_mut(name)
            .with_context(|| format!("no program {name} in its object"))?
            .try_into()
            .with_context(|| format!("{name} is not an XDP program"))?;
        program
            .load()
            .with_context(|| format!("the kernel rejected {name}"))?;
        Ok(Self { ebpf, name })
    }

    pub fn program(&self) -> Result<&Xdp> {
        match self.ebpf.program(self.name) {
            Some(Program::Xdp(program)) => Ok(program),
            _ => bail!("no XDP program {}", self.name),
        }
    }

    /// Attaches in driver mode to `ifindex` (of the calling thread's namespace) until drop.
    pub fn attach(&mut self, ifindex: u32) -> Result<()> {
        let name = self.name;
        let program: &mut Xdp = self
            .ebpf
            .program_mut(name)
            .with_context(|| format!("no program {name}"))?
            .try_into()
            .with_context(|| format!("{name} is not an XDP program"))?;
        program
            .attach_to_if_index(ifindex, XdpMode::Driver)
            .with_context(|| format!("cannot attach {name} to ifindex {ifindex}"))?;
        Ok(())
    }

    /// Frames counted by `bench_sink`, summed over the CPUs: (as expected, any other).
    pub fn sink_frames(&self) -> Result<(u64, u64)> {
        let map = self
            .ebpf
            .map("SINK_FRAMES")
            .with_context(|| format!("{} has no map SINK_FRAMES", self.name))?;
        let frames: PerCpuArray<_, u64> =
            PerCpuArray::try_from(map).context("SINK_FRAMES is not a per-CPU array of u64")?;
        let slot = |index: u32| -> Result<u64> {
            let per_cpu = frames.get(&index, 0).context("cannot read SINK_FRAMES")?;
            Ok(per_cpu.iter().sum())
        };
        Ok((slot(0)?, slot(1)?))
    }

    /// Tells `bench_sink` what a delivered frame looks like: IPv6 to `destination` with
    /// `next_header`, from `source` when given.
    pub fn sink_expect(
        &mut self,
        source: Option<std::net::Ipv6Addr>,
        destination: std::net::Ipv6Addr,
        next_header: u8,
    ) -> Result<()> {
        let map = self
            .ebpf
            .map_mut("SINK_EXPECT")
            .with_context(|| format!("{} has no map SINK_EXPECT", self.name))?;
        let mut expect: Array<_, [u8; 34]> =
            Array::try_from(map).context("SINK_EXPECT is not an array")?;
        let mut value = [0u8; 34];
        if let Some(source) = source {
            value[..16].copy_from_slice(&source.octets());
            value[33] = 1;
        }
        value[16..32].copy_from_slice(&destination.octets());
        value[32] = next_header;
        expect.set(0, value, 0).context("cannot write SINK_EXPECT")
    }
}
