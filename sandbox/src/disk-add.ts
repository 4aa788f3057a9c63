// `site-recovery sandbox disk add VM_ID [--size SIZE]`: a new, empty data disk attached to a sandbox VM at
// its next free LUN, through the ARM API as a user would (the disk, then the VM updated with one more data
// disk); prints the disk id. Sizes in whole GiB make an `Empty` disk; other sizes (64MiB) an `Upload` disk of
// exactly that many bytes (ARM sizes created disks in whole GiB only). And `growDisk`, the resize a user
// does with `az disk update --size-gb` (the emulator applies Azure's rules for an attached disk, see
// arm/providers/compute/disk-resize.ts).
import type { Command } from 'commander';
import { Option } from 'commander';
import { parseResourceId } from './arm/paths.ts';
import { armClients, connectSandbox, pollFast, type ArmClients } from './client.ts';
import { DEFAULT_SANDBOX_DIR } from './state.ts';
import { parseSize } from './units.ts';

const GiB = 1024 ** 3;

/** Attaches a new empty data disk of `sizeBytes` (a multiple of 512) at the VM's next free LUN. */
export async function addDataDisk(c: ArmClients, vmId: string, sizeBytes: number): Promise<{ id: string; lun: number }> {
  const vmRef = vmParts(vmId);
  const vm = await c.compute.virtualMachines.get(vmRef.rg, vmRef.name);
  const used = new Set((vm.storageProfile?.dataDisks ?? []).map((d) => d.lun));
  let lun = 0;
  while (used.has(lun)) lun += 1;
  const name = `${vmRef.name}-data-lun${lun}-${Date.now().toString(36)}`;
  if (sizeBytes <= 0 || sizeBytes % 512 !== 0) throw new Error(`disk size must be a positive multiple of 512 bytes, got ${sizeBytes}`);
  const whole = sizeBytes % GiB === 0;
  const creationData = whole ? { createOption: 'Empty' as const } : { createOption: 'Upload' as const, uploadSizeBytes: sizeBytes };
  const disk = await c.compute.disks.beginCreateOrUpdateAndWait(
    vmRef.rg,
    name,
    { location: vm.location, sku: { name: 'Premium_LRS' }, ...(whole ? { diskSizeGB: sizeBytes / GiB } : {}), ...(vm.zones?.length ? { zones: vm.zones } : {}), creationData },
    pollFast,
  );
  if (!whole) {
    // An upload disk is ready to attach once its (empty) upload is finished.
    await c.compute.disks.beginGrantAccessAndWait(vmRef.rg, name, { access: 'Write', durationInSeconds: 600 }, pollFast);
    await c.compute.disks.beginRevokeAccessAndWait(vmRef.rg, name, pollFast);
  }
  const dataDisks = [...(vm.storageProfile?.dataDisks ?? []), { lun, createOption: 'Attach' as const, managedDisk: { id: disk.id! } }];
  await c.compute.virtualMachines.beginUpdateAndWait(vmRef.rg, vmRef.name, { storageProfile: { dataDisks } }, pollFast);
  return { id: disk.id!, lun };
}

/** Grows a managed disk to `sizeGiB` (whole GiB, as ARM takes it). */
export async function growDisk(c: ArmClients, diskId: string, sizeGiB: number): Promise<void> {
  const parts = parseResourceId(diskId);
  if (!parts || `${parts.ns}/${parts.types.join('/')}`.toLowerCase() !== 'microsoft.compute/disks') throw new Error(`not a managed disk id: ${diskId}`);
  await c.compute.disks.beginUpdateAndWait(parts.rg, parts.names[0]!, { diskSizeGB: sizeGiB }, pollFast);
}

function vmParts(vmId: string): { rg: string; name: string } {
  const parts = parseResourceId(vmId);
  if (!parts || `${parts.ns}/${parts.types.join('/')}`.toLowerCase() !== 'microsoft.compute/virtualmachines') throw new Error(`not a virtual machine id: ${vmId}`);
  return { rg: parts.rg, name: parts.names[0]! };
}

/** Registers `sandbox disk add`. */
export function registerDiskAdd(sandbox: Command): void {
  sandbox
    .command('disk')
    .description('sandbox managed disks')
    .command('add <vmId>')
    .description('attach a new empty data disk at the next free LUN; prints the disk id')
    .option('--size <size>', 'disk size, e.g. 64MiB or 1GiB', '1GiB')
    .addOption(new Option('--dir <dir>', 'sandbox state directory').default(process.env.SITE_RECOVERY_SANDBOX_DIR ?? DEFAULT_SANDBOX_DIR))
    .action(async (vmId: string, o: { size: string; dir: string }) => {
      const added = await addDataDisk(armClients(connectSandbox(o.dir)), vmId, parseSize(o.size));
      console.log(added.id);
    });
}
