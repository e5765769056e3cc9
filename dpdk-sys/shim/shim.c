/* See shim.h: wrappers of DPDK static inline functions, nothing more. */
#include "shim.h"

uint16_t rvs_rte_eth_rx_burst(uint16_t port_id, uint16_t queue_id,
                              struct rte_mbuf **rx_pkts, uint16_t nb_pkts)
{
	return rte_eth_rx_burst(port_id, queue_id, rx_pkts, nb_pkts);
}

uint16_t rvs_rte_eth_tx_burst(uint16_t port_id, uint16_t queue_id,
                              struct rte_mbuf **tx_pkts, uint16_t nb_pkts)
{
	return rte_eth_tx_burst(port_id, queue_id, tx_pkts, nb_pkts);
}

struct rte_mbuf *rvs_rte_pktmbuf_alloc(struct rte_mempool *mp)
{
	return rte_pktmbuf_alloc(mp);
}

int rvs_rte_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs,
                               unsigned int count)
{
	return rte_pktmbuf_alloc_bulk(mp, mbufs, count);
}

void rvs_rte_pktmbuf_free(struct rte_mbuf *m)
{
	rte_pktmbuf_free(m);
}

char *rvs_rte_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_prepend(m, len);
}

char *rvs_rte_pktmbuf_append(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_append(m, len);
}

char *rvs_rte_pktmbuf_adj(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_adj(m, len);
}

int rvs_rte_pktmbuf_trim(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_trim(m, len);
}

uint16_t rvs_rte_pktmbuf_headroom(const struct rte_mbuf *m)
{
	return rte_pktmbuf_headroom(m);
}

uint16_t rvs_rte_pktmbuf_tailroom(const struct rte_mbuf *m)
{
	return rte_pktmbuf_tailroom(m);
}

unsigned int rvs_rte_lcore_id(void)
{
	return rte_lcore_id();
}

int rvs_rte_errno(void)
{
	return rte_errno;
}

uint64_t rvs_rte_rdtsc(void)
{
	return rte_rdtsc();
}

unsigned int rvs_rte_ring_enqueue_burst(struct rte_ring *r, void *const *obj_table,
                                        unsigned int n, unsigned int *free_space)
{
	return rte_ring_enqueue_burst(r, obj_table, n, free_space);
}

unsigned int rvs_rte_ring_dequeue_burst(struct rte_ring *r, void **obj_table,
                                        unsigned int n, unsigned int *available)
{
	return rte_ring_dequeue_burst(r, obj_table, n, available);
}

void *rvs_mbuf_buf_addr(const struct rte_mbuf *m)
{
	return m->buf_addr;
}

uint16_t rvs_mbuf_buf_len(const struct rte_mbuf *m)
{
	return m->buf_len;
}

uint16_t rvs_mbuf_data_off(const struct rte_mbuf *m)
{
	return m->data_off;
}

uint16_t rvs_mbuf_data_len(const struct rte_mbuf *m)
{
	return m->data_len;
}

uint32_t rvs_mbuf_pkt_len(const struct rte_mbuf *m)
{
	return m->pkt_len;
}

uint16_t rvs_mbuf_nb_segs(const struct rte_mbuf *m)
{
	return m->nb_segs;
}

void rvs_mbuf_layout(uint32_t out[7])
{
	out[0] = offsetof(struct rte_mbuf, buf_addr);
	out[1] = offsetof(struct rte_mbuf, data_off);
	out[2] = offsetof(struct rte_mbuf, nb_segs);
	out[3] = offsetof(struct rte_mbuf, pkt_len);
	out[4] = offsetof(struct rte_mbuf, data_len);
	out[5] = offsetof(struct rte_mbuf, buf_len);
	out[6] = sizeof(struct rte_mbuf);
}

void rvs_mbuf_set_window(struct rte_mbuf *m, uint16_t data_off, uint16_t data_len)
{
	m->data_off = data_off;
	m->data_len = data_len;
	m->pkt_len = data_len;
}

void rvs_eth_rss_masks(uint64_t out[3])
{
	out[0] = RTE_ETH_RSS_IP;
	out[1] = RTE_ETH_RSS_TCP;
	out[2] = RTE_ETH_RSS_UDP;
}
