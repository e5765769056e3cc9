//! The local stack: ARP, ICMP echo, neighbours and routes for the appliance's own addresses.
