//! Ethernet ports: created (virtual devices) or found (probed NICs) by name,
//! configured with one rx/tx queue pair per worker (spread by RSS where the
//! device hashes, see [`RxSpread`]), started, stopped and closed on drop.

use super::error::{last_error, strerror, DpdkError};
use super::mbuf::Burst;
use super::mempool::Mempool;
use super::ring::Ring;
use dataplane::addr::MacAddr;
use std::ffi::{c_char, CStr, CString};
use std::fmt;

/// One ethdev port, owned. Dropping it stops and closes it.
#[derive(Debug)]
pub struct Port {
    id: u16,
    name: String,
    queues: u16,
    started: bool,
    spread: RxSpread,
    /// rte_flow rules rvsd created on this port (src/dpdk/flow.rs); they are
    /// flushed before the port closes.
    pub(super) flow_rules: usize,
}

/// How a port spreads what it receives over its rx queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxSpread {
    /// Not asked for (one queue, or a port that must keep DPDK's default,
    /// such as the kernel twin): `mq_mode` NONE.
    Off,
    /// Asked for, but the device hashes none of IPv4/IPv6/TCP/UDP
    /// (`flow_type_rss_offloads` has none of them: af_packet, memif, ring,
    /// null). `mq_mode` NONE: the driver puts packets where it does
    /// (af_packet with `qpairs` spreads by kernel fanout; most vdevs use
    /// queue 0), and the software redirect rings carry replies to owners.
    Unavailable,
    /// `mq_mode` RSS over these `rss_hf` hash types (IP addresses and TCP/UDP
    /// ports, as far as the device supports them), with the driver's key.
    Rss {
        /// `rte_eth_rss_conf.rss_hf`.
        hash_types: u64,
    },
}

impl RxSpread {
    /// The spreading a port with `queues` rx queues gets: RSS on IP, TCP and
    /// UDP when `want_rss`, there are several queues, and the device's
    /// `flow_type_rss_offloads` covers at least one of those hash types
    /// (only the covered ones are asked: DPDK refuses the others).
    pub fn choose(queues: u16, want_rss: bool, rss_offloads: u64) -> RxSpread {
        if !want_rss || queues <= 1 {
            return RxSpread::Off;
        }
        let wanted =
            dpdk_sys::RTE_ETH_RSS_IP | dpdk_sys::RTE_ETH_RSS_TCP | dpdk_sys::RTE_ETH_RSS_UDP;
        match wanted & rss_offloads {
            0 => RxSpread::Unavailable,
            hash_types => RxSpread::Rss { hash_types },
        }
    }

    /// `rte_eth_rxmode.mq_mode` for this choice.
    pub fn mq_mode(self) -> dpdk_sys::rte_eth_rx_mq_mode {
        match self {
            RxSpread::Rss { .. } => dpdk_sys::rte_eth_rx_mq_mode_RTE_ETH_MQ_RX_RSS,
            RxSpread::Off | RxSpread::Unavailable => {
                dpdk_sys::rte_eth_rx_mq_mode_RTE_ETH_MQ_RX_NONE
            }
        }
    }

    /// `rte_eth_rss_conf.rss_hf` for this choice (0 without RSS).
    pub fn rss_hf(self) -> u64 {
        match self {
            RxSpread::Rss { hash_types } => hash_types,
            RxSpread::Off | RxSpread::Unavailable => 0,
        }
    }
}

impl fmt::Display for RxSpread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RxSpread::Off => f.write_str("no RSS (one queue, or not wanted)"),
            RxSpread::Unavailable => f.write_str("no RSS (the device hashes no IP/TCP/UDP)"),
            RxSpread::Rss { hash_types } => write!(f, "RSS (rss_hf {hash_types:#x})"),
        }
    }
}

/// How [`Port::configure_with`] sets a port up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortOptions {
    /// Spread received packets over the queues by RSS when the device can
    /// ([`RxSpread::choose`]). Data ports want it; the kernel twin does not.
    pub rss: bool,
}

/// Link state as `rte_eth_link_get_nowait` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkStatus {
    /// Link is up.
    pub up: bool,
    /// Speed in Mb/s (0 when unknown).
    pub speed_mbps: u32,
}

/// Basic port counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Packets received.
    pub ipackets: u64,
    /// Packets sent.
    pub opackets: u64,
    /// Bytes received.
    pub ibytes: u64,
    /// Bytes sent.
    pub obytes: u64,
    /// Packets the NIC dropped for lack of rx descriptors.
    pub imissed: u64,
    /// Receive errors.
    pub ierrors: u64,
    /// Transmit errors.
    pub oerrors: u64,
    /// Receive failures for lack of mbufs.
    pub rx_nombuf: u64,
}

/// The right to use one rx and one tx queue of a port from one lcore. Copy it
/// into the worker that owns the queue; the port must outlive the worker
/// (guaranteed by [`super::scope`]: workers borrow the ports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueHandle {
    /// Port id.
    pub port: u16,
    /// Queue index (rx and tx).
    pub queue: u16,
}

fn c_string(s: &str) -> CString {
    // Interior NULs cannot come from a parsed config string, but never panic.
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

impl Port {
    /// Creates the virtual device `name` with `args` (`net_ring0`,
    /// `net_af_packet0` + `iface=veth0`) and takes its port.
    pub fn create_vdev(name: &str, args: &str) -> Result<Port, DpdkError> {
        let (cname, cargs) = (c_string(name), c_string(args));
        // SAFETY: both are valid NUL-terminated strings for the call's duration.
        let rc = unsafe { dpdk_sys::rte_vdev_init(cname.as_ptr(), cargs.as_ptr()) };
        if rc != 0 {
            let reason = match strerror(rc) {
                r if rc == -libc::EEXIST || rc == libc::EEXIST => {
                    format!("{r} (device already exists)")
                }
                r => format!(
                    "{r} (check the device name and its arguments; the driver logs why above)"
                ),
            };
            return Err(DpdkError::Vdev {
                name: name.into(),
                args: args.into(),
                reason,
            });
        }
        Self::find(name)
    }

    /// A port named `name` whose rx queue reads `rx` and whose tx queue
    /// writes `tx` (the ring PMD): a NIC whose wire is in our hands, for
    /// harnesses and tests.
    pub fn from_rings(name: &str, rx: &Ring, tx: &Ring) -> Result<Port, DpdkError> {
        let cname = c_string(name);
        let mut rxq = [rx.as_ptr()];
        let mut txq = [tx.as_ptr()];
        // SAFETY: the name is a valid C string; the queue arrays hold one
        // valid ring each and are only read during the call. The rings must
        // outlive the port (the caller declares them before it).
        let rc = unsafe {
            dpdk_sys::rte_eth_from_rings(
                cname.as_ptr(),
                rxq.as_mut_ptr(),
                1,
                txq.as_mut_ptr(),
                1,
                0,
            )
        };
        // It returns the new port's id.
        match u16::try_from(rc) {
            Ok(id) => Ok(Port {
                id,
                name: name.into(),
                queues: 0,
                started: false,
                spread: RxSpread::Off,
                flow_rules: 0,
            }),
            Err(_) => Err(DpdkError::Vdev {
                name: name.into(),
                args: "rings".into(),
                reason: last_error(),
            }),
        }
    }

    /// Takes the already probed port called `name` (a PCI address, or a vdev
    /// given to EAL with `--vdev`).
    pub fn find(name: &str) -> Result<Port, DpdkError> {
        let cname = c_string(name);
        let mut id = 0u16;
        // SAFETY: cname is valid for the call; id is a valid out pointer.
        let rc = unsafe { dpdk_sys::rte_eth_dev_get_port_by_name(cname.as_ptr(), &mut id) };
        if rc != 0 {
            return Err(DpdkError::NoSuchPort(name.into()));
        }
        Ok(Port {
            id,
            name: name.into(),
            queues: 0,
            started: false,
            spread: RxSpread::Off,
            flow_rules: 0,
        })
    }

    pub(super) fn err(&self, op: &'static str, rc: i32) -> DpdkError {
        DpdkError::Port {
            port: self.id,
            name: self.name.clone(),
            op,
            reason: strerror(rc),
        }
    }

    /// DPDK port id.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// Device name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How received packets are spread over the queues (set by configure).
    pub fn rx_spread(&self) -> RxSpread {
        self.spread
    }

    /// Configures `queues` rx and tx queue pairs fed from `pool`, with the
    /// given descriptor counts (adjusted to the device's limits), and no RSS
    /// (DPDK's all-zero default configuration).
    pub fn configure(
        &mut self,
        queues: u16,
        rx_desc: u16,
        tx_desc: u16,
        pool: &Mempool,
    ) -> Result<(), DpdkError> {
        self.configure_with(queues, rx_desc, tx_desc, pool, PortOptions::default())
    }

    /// [`Port::configure`] with options: with `opts.rss`, several queues and
    /// a device that hashes, RSS spreads flows over the queues
    /// ([`RxSpread::choose`]; [`Port::rx_spread`] tells which it got).
    pub fn configure_with(
        &mut self,
        queues: u16,
        rx_desc: u16,
        tx_desc: u16,
        pool: &Mempool,
        opts: PortOptions,
    ) -> Result<(), DpdkError> {
        // SAFETY: rte_eth_dev_info is plain data; zero is a valid start value.
        let mut info: dpdk_sys::rte_eth_dev_info = unsafe { std::mem::zeroed() };
        // SAFETY: the port id is valid (found by name); info is a valid out pointer.
        let rc = unsafe { dpdk_sys::rte_eth_dev_info_get(self.id, &mut info) };
        if rc != 0 {
            return Err(self.err("reading device info", rc));
        }
        if queues == 0 || queues > info.max_rx_queues || queues > info.max_tx_queues {
            return Err(DpdkError::Port {
                port: self.id,
                name: self.name.clone(),
                op: "configure",
                reason: format!(
                    "{queues} queue pairs asked (one per worker), the device has {} rx / {} tx \
                     (net_af_packet: add qpairs=N to its args)",
                    info.max_rx_queues, info.max_tx_queues
                ),
            });
        }
        // SAFETY: rte_eth_conf is plain data; all-zero is DPDK's documented default.
        let mut conf: dpdk_sys::rte_eth_conf = unsafe { std::mem::zeroed() };
        let spread = RxSpread::choose(queues, opts.rss, info.flow_type_rss_offloads);
        conf.rxmode.mq_mode = spread.mq_mode();
        // A NULL key (left zero) means the driver's default key.
        conf.rx_adv_conf.rss_conf.rss_hf = spread.rss_hf();
        // SAFETY: valid port id, queue counts checked above, conf lives for the call.
        let rc = unsafe { dpdk_sys::rte_eth_dev_configure(self.id, queues, queues, &conf) };
        if rc != 0 {
            return Err(self.err("configure", rc));
        }
        let (mut nrx, mut ntx) = (rx_desc, tx_desc);
        // SAFETY: valid port id, out pointers to locals.
        let rc = unsafe { dpdk_sys::rte_eth_dev_adjust_nb_rx_tx_desc(self.id, &mut nrx, &mut ntx) };
        if rc != 0 {
            return Err(self.err("adjusting descriptor counts", rc));
        }
        // SAFETY: valid port id.
        let socket = unsafe { dpdk_sys::rte_eth_dev_socket_id(self.id) };
        let socket = u32::try_from(socket).unwrap_or(0);
        for q in 0..queues {
            // SAFETY: valid port and queue index (< configured count); NULL
            // rx_conf means the driver's defaults; the pool outlives the port
            // (declared before it in rvsd, see Mempool's doc).
            let rc = unsafe {
                dpdk_sys::rte_eth_rx_queue_setup(
                    self.id,
                    q,
                    nrx,
                    socket,
                    std::ptr::null(),
                    pool.as_ptr(),
                )
            };
            if rc != 0 {
                return Err(self.err("rx queue setup", rc));
            }
            // SAFETY: as above, NULL tx_conf means defaults.
            let rc = unsafe {
                dpdk_sys::rte_eth_tx_queue_setup(self.id, q, ntx, socket, std::ptr::null())
            };
            if rc != 0 {
                return Err(self.err("tx queue setup", rc));
            }
        }
        self.queues = queues;
        self.spread = spread;
        Ok(())
    }

    /// Sets the MTU; returns false (and leaves it) when the driver cannot.
    pub fn set_mtu(&mut self, mtu: u16) -> bool {
        // SAFETY: valid port id.
        unsafe { dpdk_sys::rte_eth_dev_set_mtu(self.id, mtu) == 0 }
    }

    /// Starts the port.
    pub fn start(&mut self) -> Result<(), DpdkError> {
        // SAFETY: the port is configured (queues set up) before start.
        let rc = unsafe { dpdk_sys::rte_eth_dev_start(self.id) };
        if rc != 0 {
            return Err(self.err("start", rc));
        }
        self.started = true;
        Ok(())
    }

    /// Stops the port (idempotent).
    pub fn stop(&mut self) {
        if self.started {
            // SAFETY: valid, started port; no lcore polls it any more (the
            // worker scope has ended before ports are stopped).
            let rc = unsafe { dpdk_sys::rte_eth_dev_stop(self.id) };
            if rc != 0 {
                tracing::warn!(port = self.id, "stop failed: {}", strerror(rc));
            }
            self.started = false;
        }
    }

    /// The port's MAC address.
    pub fn mac(&self) -> Result<MacAddr, DpdkError> {
        let mut a = dpdk_sys::rte_ether_addr::default();
        // SAFETY: valid port id, valid out pointer.
        let rc = unsafe { dpdk_sys::rte_eth_macaddr_get(self.id, &mut a) };
        if rc != 0 {
            return Err(self.err("reading the MAC address", rc));
        }
        Ok(MacAddr(a.addr_bytes))
    }

    /// Current link state, without waiting.
    pub fn link(&self) -> LinkStatus {
        let mut l = dpdk_sys::rte_eth_link::default();
        // SAFETY: valid port id, valid out pointer.
        let rc = unsafe { dpdk_sys::rte_eth_link_get_nowait(self.id, &mut l) };
        if rc != 0 {
            return LinkStatus {
                up: false,
                speed_mbps: 0,
            };
        }
        LinkStatus {
            up: l.link_status() != 0,
            speed_mbps: l.link_speed,
        }
    }

    /// Basic counters.
    pub fn stats(&self) -> PortStats {
        let mut s = dpdk_sys::rte_eth_stats::default();
        // SAFETY: valid port id, valid out pointer.
        let rc = unsafe { dpdk_sys::rte_eth_stats_get(self.id, &mut s) };
        if rc != 0 {
            return PortStats::default();
        }
        PortStats {
            ipackets: s.ipackets,
            opackets: s.opackets,
            ibytes: s.ibytes,
            obytes: s.obytes,
            imissed: s.imissed,
            ierrors: s.ierrors,
            oerrors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        }
    }

    /// Extended counters, by name.
    pub fn xstats(&self) -> Vec<(String, u64)> {
        // SAFETY: a NULL array with size 0 asks for the count only.
        let n = unsafe { dpdk_sys::rte_eth_xstats_get_names(self.id, std::ptr::null_mut(), 0) };
        let Ok(n) = u32::try_from(n) else {
            return Vec::new();
        };
        let len = usize::try_from(n).unwrap_or(0);
        let mut names = vec![dpdk_sys::rte_eth_xstat_name::default(); len];
        let mut values = vec![dpdk_sys::rte_eth_xstat::default(); len];
        // SAFETY: both arrays hold n elements, as the calls are told.
        let (got_names, got_values) = unsafe {
            (
                dpdk_sys::rte_eth_xstats_get_names(self.id, names.as_mut_ptr(), n),
                dpdk_sys::rte_eth_xstats_get(self.id, values.as_mut_ptr(), n),
            )
        };
        if got_names < 0 || got_values < 0 {
            return Vec::new();
        }
        values
            .iter()
            .filter_map(|v| {
                let name = names.get(usize::try_from(v.id).ok()?)?;
                // SAFETY: DPDK NUL-terminates xstat names within their fixed array.
                let name = unsafe { CStr::from_ptr(name.name.as_ptr().cast::<c_char>()) };
                Some((name.to_string_lossy().into_owned(), v.value))
            })
            .collect()
    }

    /// A handle for queue `queue`, or None past the configured count.
    pub fn queue(&self, queue: u16) -> Option<QueueHandle> {
        (queue < self.queues).then_some(QueueHandle {
            port: self.id,
            queue,
        })
    }
}

impl QueueHandle {
    /// Receives at most `max` packets into the spare slots of `burst`;
    /// returns how many arrived.
    pub fn rx_burst(&self, burst: &mut Burst, max: usize) -> usize {
        let (slots, free) = burst.spare();
        let free = free.min(u16::try_from(max).unwrap_or(u16::MAX));
        // SAFETY: `slots` has room for `free` pointers; the port is started
        // and outlives this handle's use (worker scope); each queue is polled
        // by one lcore only (one handle per worker).
        let n = unsafe { dpdk_sys::rte_eth_rx_burst(self.port, self.queue, slots, free) };
        burst.filled(usize::from(n));
        usize::from(n)
    }

    /// Sends everything in `burst`; what the NIC did not take is freed.
    /// Returns how many were sent.
    pub fn tx_burst(&self, burst: &mut Burst) -> usize {
        if burst.is_empty() {
            return 0;
        }
        let (mbufs, n) = burst.held();
        // SAFETY: `mbufs` holds n owned mbufs; the NIC takes ownership of the
        // first `sent`, and `consumed` frees the rest. One lcore per queue.
        let sent = unsafe { dpdk_sys::rte_eth_tx_burst(self.port, self.queue, mbufs, n) };
        burst.consumed(usize::from(sent));
        usize::from(sent)
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        // rte_flow rules go first, while the port still runs (src/dpdk/flow.rs).
        self.unsteer();
        self.stop();
        // SAFETY: the port is stopped and nothing polls it; closed once.
        let rc = unsafe { dpdk_sys::rte_eth_dev_close(self.id) };
        if rc != 0 {
            tracing::warn!(port = self.id, "close failed: {}", strerror(rc));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dpdk_sys::{
        RTE_ETH_RSS_IP, RTE_ETH_RSS_IPV4, RTE_ETH_RSS_NONFRAG_IPV4_TCP,
        RTE_ETH_RSS_NONFRAG_IPV4_UDP, RTE_ETH_RSS_TCP, RTE_ETH_RSS_UDP,
    };

    /// `RTE_ETH_RSS_L2_PAYLOAD` (bit 14 in rte_ethdev.h): a hash type rvsd
    /// does not ask for.
    const L2_PAYLOAD: u64 = 1 << 14;
    const ALL: u64 = RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;

    #[test]
    fn rss_only_with_several_queues_when_asked_and_offered() {
        let nic = ALL | L2_PAYLOAD;
        assert_eq!(
            RxSpread::choose(4, true, nic),
            RxSpread::Rss { hash_types: ALL }
        );
        // One queue, or not asked (the kernel twin): DPDK's default.
        assert_eq!(RxSpread::choose(1, true, nic), RxSpread::Off);
        assert_eq!(RxSpread::choose(0, true, nic), RxSpread::Off);
        assert_eq!(RxSpread::choose(4, false, nic), RxSpread::Off);
        // Vdevs report no hash types at all.
        assert_eq!(RxSpread::choose(2, true, 0), RxSpread::Unavailable);
        // Hash types rvsd has no use for are not enough.
        assert_eq!(RxSpread::choose(2, true, L2_PAYLOAD), RxSpread::Unavailable);
    }

    #[test]
    fn rss_asks_only_what_the_device_offers() {
        let offered = RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_TCP | L2_PAYLOAD;
        let s = RxSpread::choose(2, true, offered);
        assert_eq!(s.rss_hf(), RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_TCP);
        assert_eq!(s.mq_mode(), dpdk_sys::rte_eth_rx_mq_mode_RTE_ETH_MQ_RX_RSS);
        let udp = RxSpread::choose(8, true, RTE_ETH_RSS_NONFRAG_IPV4_UDP);
        assert_eq!(udp.rss_hf(), RTE_ETH_RSS_NONFRAG_IPV4_UDP);
        for none in [RxSpread::Off, RxSpread::Unavailable] {
            assert_eq!(none.rss_hf(), 0);
            assert_eq!(
                none.mq_mode(),
                dpdk_sys::rte_eth_rx_mq_mode_RTE_ETH_MQ_RX_NONE
            );
        }
    }
}
