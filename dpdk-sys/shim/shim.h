/*
 * rvs shim over DPDK's static inline fast-path functions, which bindgen
 * cannot bind. Every function here is a one-line call of the DPDK function
 * named after the `rvs_` prefix (or a plain mbuf field access); dpdk-sys
 * re-exports them under DPDK's own names.
 */
#ifndef RVS_DPDK_SHIM_H
#define RVS_DPDK_SHIM_H

#include <stdint.h>
#include <rte_config.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_flow.h>
#include <rte_lcore.h>
#include <rte_launch.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_cycles.h>
#include <rte_version.h>
#include <rte_bus_vdev.h>
#include <rte_eth_ring.h>

uint16_t rvs_rte_eth_rx_burst(uint16_t port_id, uint16_t queue_id,
                              struct rte_mbuf **rx_pkts, uint16_t nb_pkts);
uint16_t rvs_rte_eth_tx_burst(uint16_t port_id, uint16_t queue_id,
                              struct rte_mbuf **tx_pkts, uint16_t nb_pkts);
struct rte_mbuf *rvs_rte_pktmbuf_alloc(struct rte_mempool *mp);
int rvs_rte_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs,
                               unsigned int count);
void rvs_rte_pktmbuf_free(struct rte_mbuf *m);
char *rvs_rte_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len);
char *rvs_rte_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
char *rvs_rte_pktmbuf_adj(struct rte_mbuf *m, uint16_t len);
int rvs_rte_pktmbuf_trim(struct rte_mbuf *m, uint16_t len);
uint16_t rvs_rte_pktmbuf_headroom(const struct rte_mbuf *m);
uint16_t rvs_rte_pktmbuf_tailroom(const struct rte_mbuf *m);
unsigned int rvs_rte_lcore_id(void);
int rvs_rte_errno(void);
uint64_t rvs_rte_rdtsc(void);
unsigned int rvs_rte_ring_enqueue_burst(struct rte_ring *r, void *const *obj_table,
                                        unsigned int n, unsigned int *free_space);
unsigned int rvs_rte_ring_dequeue_burst(struct rte_ring *r, void **obj_table,
                                        unsigned int n, unsigned int *available);

/* Plain field access, so Rust never depends on the rte_mbuf layout. */
void *rvs_mbuf_buf_addr(const struct rte_mbuf *m);
uint16_t rvs_mbuf_buf_len(const struct rte_mbuf *m);
uint16_t rvs_mbuf_data_off(const struct rte_mbuf *m);
uint16_t rvs_mbuf_data_len(const struct rte_mbuf *m);
uint32_t rvs_mbuf_pkt_len(const struct rte_mbuf *m);
uint16_t rvs_mbuf_nb_segs(const struct rte_mbuf *m);
/* offsetof() of the rte_mbuf fields Rust reads directly, in this order:
 * buf_addr, data_off, nb_segs, pkt_len, data_len, buf_len; and sizeof. */
void rvs_mbuf_layout(uint32_t out[7]);
/* Sets data_off, data_len and pkt_len of a single-segment mbuf. */
void rvs_mbuf_set_window(struct rte_mbuf *m, uint16_t data_off, uint16_t data_len);

/* The RSS hash-type masks RTE_ETH_RSS_IP, _TCP and _UDP, in this order, as
 * the C headers compute them (bindgen cannot expand RTE_BIT64), so a test
 * can check the values dpdk-sys defines. */
void rvs_eth_rss_masks(uint64_t out[3]);

#endif
