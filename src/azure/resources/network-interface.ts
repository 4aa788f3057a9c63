/**
 * Helpers for network interface ids. The failover creates its NIC through failover-resources.ts; the
 * replication side only needs to know which virtual network a NIC's subnet belongs to, to check that the
 * NetworkMapping maps it.
 */
/** The virtual network id a subnet id belongs to. */
export function networkOfSubnet(subnetId: string): string {
  return subnetId.replace(/\/subnets\/[^/]+$/i, '');
}
