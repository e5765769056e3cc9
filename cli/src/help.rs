//! `rvsadm -h` and `rvsadm -v`.
//!
//! The help follows ipvsadm 1.31's usage screen (same sections, same
//! columns) without the options rvs refuses (sync daemon, SCTP, persistence
//! engines, GUE/GRE tunnels), plus a section for the appliance extensions.

/// The schedulers rvsd implements (the `-s` choices).
pub const SCHEDULERS: &str = "rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|fo|ovf|mh|twos";

/// The `-v` line.
pub fn version() -> String {
    format!(
        "rvsadm v{} (ipvsadm v1.31 compatible, admin protocol v{})\n",
        env!("CARGO_PKG_VERSION"),
        control::admin::PROTOCOL_VERSION
    )
}

/// The `-h` screen for program name `p`.
pub fn usage(p: &str) -> String {
    let mut s = version();
    s.push_str(&format!(
        "Usage:
  {p} -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [-b sched-flags]
  {p} -D virtual-service
  {p} -C
  {p} -R
  {p} -S [-n]
  {p} -a|e virtual-service -r server-address [options]
  {p} -d virtual-service -r server-address
  {p} -L|l [virtual-service] [options]
  {p} -Z [virtual-service]
  {p} --set tcp tcpfin udp
  {p} -h

"
    ));
    s.push_str(
        "Commands:
Either long or short options are allowed.
  --add-service     -A        add virtual service with options
  --edit-service    -E        edit virtual service with options
  --delete-service  -D        delete virtual service
  --clear           -C        clear the whole table
  --restore         -R        restore rules from stdin
  --save            -S        save rules to stdout
  --add-server      -a        add real server with options
  --edit-server     -e        edit real server with options
  --delete-server   -d        delete real server
  --list            -L|-l     list the table
  --zero            -Z        zero counters in a service or all services
  --set tcp tcpfin udp        set connection timeout values
  --help            -h        display this help message

virtual-service:
  --tcp-service|-t  service-address   service-address is host[:port]
  --udp-service|-u  service-address   service-address is host[:port]
  --fwmark-service|-f fwmark          fwmark is an integer greater than zero

",
    );
    s.push_str(&format!(
        "Options:
  --ipv6         -6                   fwmark entry uses IPv6
  --scheduler    -s scheduler         one of {SCHEDULERS},
                                      the default scheduler is {}.
  --persistent   -p [timeout]         persistent service (default timeout {}s)
  --netmask      -M netmask           persistent granularity mask
  --real-server  -r server-address    server-address is host (and port)
  --gatewaying   -g                   gatewaying (direct routing) (default)
  --ipip         -i                   ipip encapsulation (tunneling)
  --masquerading -m                   masquerading (NAT)
  --fullnat                           full NAT (SNAT to a local address + DNAT)
  --weight       -w weight            capacity of real server
  --u-threshold  -x uthreshold        upper threshold of connections
  --l-threshold  -y lthreshold        lower threshold of connections
  --connection   -c                   output of current IPVS connections
  --timeout                           output of timeout (tcp tcpfin udp)
  --daemon                            output of daemon information
  --stats                             output of statistics information
  --rate                              output of rate information
  --exact                             expand numbers (display exact values)
  --thresholds                        output of thresholds information
  --persistent-conn                   output of persistent connection info
  --tun-info                          output of tunnel information
  --nosort                            disable sorting output of service/server entries
  --sort                              does nothing, for backwards compatibility
  --ops          -o                   one-packet scheduling
  --numeric      -n                   numeric output of addresses and ports
  --sched-flags  -b flags             scheduler flags (comma-separated)

",
        control::admin::DEFAULT_SCHEDULER,
        control::admin::DEFAULT_PERSISTENT_TIMEOUT,
    ));
    s.push_str(&format!(
        "rvs extensions (the appliance; LVS has no word for these):
  {p} -L --interfaces       list the appliance's interfaces (DPDK ports)
  {p} -L --routes           list the appliance's routing table
  {p} -L --neighbours       list the neighbour (ARP) cache, all workers merged
  {p} -L --laddrs [-n]      list FullNAT local addresses by service
  {p} -L --health [-n]      list dest health-check status
  {p} --import-keepalived FILE
                           print keepalived.conf's virtual_servers as the rvs
                           config's `services` block (RON); what rvs cannot
                           carry over is named on stderr
  --fullnat                           forwarding method for -a/-e (FullNAT)
  --socket PATH                       admin socket of rvsd (default /run/rvs/rvsd.sock,
                                      or $RVS_SOCKET); accepted anywhere on the line
Not supported by rvs: --start-daemon, --stop-daemon and the sync daemon options,
  --sctp-service, --pe, --tun-type/--tun-port/--tun-*csum.
"
    ));
    s
}
