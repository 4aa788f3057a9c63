// Microsoft.Compute/diskEncryptionSets: a customer-managed key for managed disks (server-side encryption),
// and a disk's `encryption` (DiskProperties.encryption: Encryption { diskEncryptionSetId, type }). Shapes from
// DiskEncryptionSet / EncryptionSetProperties / EncryptionSetIdentity / KeyForDiskEncryptionSet in
// specification/compute/resource-manager/Microsoft.Compute/DiskRP/stable/2024-03-02/diskEncryptionSet.json and
// Encryption / EncryptionType in .../DiskRP/stable/2024-03-02/diskRPCommon.json (Azure/azure-rest-api-specs).
// The key is never used (the sandbox's disk bytes are not encrypted); what is kept is the reference a disk
// makes: the set must exist in the disk's region, and its type decides the disk's encryption type.
import type { ArmEngine, TypeHandler } from '../../engine.ts';
import { etag, normLocation } from '../../engine.ts';
import { invalidParameter } from '../../errors.ts';
import type { Json } from '../../store.ts';
import { clone, isObj, lroDelete, lroPut, newResource, putCompleter, trackedBody, uuid } from '../common.ts';
import { NS } from './shared.ts';

export const DES = 'Microsoft.Compute/diskEncryptionSets';
const TYPES = ['EncryptionAtRestWithCustomerKey', 'EncryptionAtRestWithPlatformAndCustomerKeys', 'ConfidentialVmEncryptedWithCustomerKey'];

function diskEncryptionSetHandler(): TypeHandler {
  return {
    type: DES,
    tracked: true,
    subscriptionList: true,
    render: (_e, r) => clone(r.body),
    async put(e, ctx, target) {
      const req = ctx.body;
      const props = isObj(req.properties) ? req.properties : {};
      const type = props.encryptionType ?? 'EncryptionAtRestWithCustomerKey';
      if (!TYPES.includes(type)) throw invalidParameter(`The value '${String(type)}' of parameter 'encryptionType' is not valid.`, 'encryptionType');
      if (typeof props.activeKey?.keyUrl !== 'string') throw invalidParameter("Required parameter 'activeKey.keyUrl' is missing (null).", 'activeKey.keyUrl');
      const body = trackedBody(target, DES, req);
      body.etag = etag();
      // Only SystemAssigned is supported for new creations (EncryptionSetIdentity.type).
      body.identity = { type: 'SystemAssigned', principalId: target.existing?.body.identity?.principalId ?? uuid(), tenantId: target.existing?.body.identity?.tenantId ?? uuid() };
      body.properties = {
        provisioningState: 'Updating',
        encryptionType: type,
        activeKey: clone(props.activeKey),
        rotationToLatestKeyVersionEnabled: Boolean(props.rotationToLatestKeyVersionEnabled),
      };
      return lroPut(e, ctx, { res: newResource(target, DES, body), created: !target.existing, kind: 'diskEncryptionSets.put', ns: NS });
    },
    async delete(e, ctx, res) {
      return lroDelete(e, ctx, { res, kind: 'diskEncryptionSets.delete', ns: NS });
    },
  };
}

/**
 * A disk's encryption from its PUT: the platform's key, or the disk encryption set it names, which must exist
 * in the disk's `location` (else InvalidParameter naming encryption.diskEncryptionSetId; the code is Azure's,
 * the wording the emulator's: Azure documents that a set and its disks are in one region,
 * learn.microsoft.com/azure/virtual-machines/disk-encryption#restrictions).
 */
export function diskEncryption(engine: ArmEngine, props: Json, location: string): Json {
  const id: unknown = props.encryption?.diskEncryptionSetId;
  if (id === undefined) return { type: 'EncryptionAtRestWithPlatformKey' };
  const set = typeof id === 'string' ? engine.store.get(id) : undefined;
  if (!set || set.type !== DES) throw invalidParameter(`Disk encryption set ${String(id)} was not found.`, 'encryption.diskEncryptionSetId');
  if (normLocation(set.body.location) !== location) {
    throw invalidParameter(`Disk encryption set ${set.id} is in ${set.body.location}; a disk in ${location} can only use a disk encryption set in its own region.`, 'encryption.diskEncryptionSetId');
  }
  return { type: set.body.properties.encryptionType === 'EncryptionAtRestWithPlatformAndCustomerKeys' ? 'EncryptionAtRestWithPlatformAndCustomerKeys' : 'EncryptionAtRestWithCustomerKey', diskEncryptionSetId: set.id };
}

export function registerDiskEncryptionSets(engine: ArmEngine): void {
  engine.registerType(diskEncryptionSetHandler());
  engine.registerCompleter('diskEncryptionSets.put', putCompleter());
  engine.registerCompleter('diskEncryptionSets.delete', async (e, op) => {
    e.store.delete(op.resourceId);
    e.store.save();
  });
}
