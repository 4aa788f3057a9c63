/** The virtual network id a subnet id belongs to. */
export function networkOfSubnet(subnetId: string): string {
  return subnetId.replace(/\/subnets\/[^/]+$/i, '');
}
