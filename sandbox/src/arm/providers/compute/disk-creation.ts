// Where a new managed disk's or snapshot's content comes from (creationData: Empty, FromImage, Import,
// Copy, Restore, Upload): validated at PUT, copied into the disk's page blob when the operation completes.
import type { ArmEngine, Target } from '../../engine.ts';
import { conflict, invalidParameter } from '../../errors.ts';
import { parentId, resourceTypeOf } from '../../paths.ts';
import type { Json, StoredResource } from '../../store.ts';
import { isObj } from '../common.ts';
import { DISK, DRP, GiB, IMAGE_OS_DISK_GB, SNAPSHOT, isReady, notFoundRef, sizeBytesOf } from './shared.ts';

export interface DiskSource {
  kind: 'empty' | 'url' | 'resource' | 'upload';
  sizeBytes: number;
  url?: string;
  resourceId?: string;
}

/** Validates creationData of a disk/snapshot and works out its size and content source. */
export async function resolveCreation(
  engine: ArmEngine,
  target: Target,
  props: Json,
  isSnapshot: boolean,
  location: string,
): Promise<DiskSource> {
  const cd = isObj(props.creationData) ? props.creationData : undefined;
  const option: unknown = cd?.createOption;
  if (typeof option !== 'string') {
    throw invalidParameter("Required parameter 'creationData.createOption' is missing (null).", 'creationData.createOption');
  }
  const givenGb = props.diskSizeGB === undefined ? undefined : Number(props.diskSizeGB);
  if (givenGb !== undefined && (!Number.isInteger(givenGb) || givenGb < 1 || givenGb > 65536)) {
    throw invalidParameter(`The value ${String(props.diskSizeGB)} of parameter 'diskSizeGB' is out of range. The value must be between 1 and 65536, inclusive.`, 'diskSizeGB');
  }
  const withGiven = (minBytes: number): number => {
    if (givenGb === undefined) return minBytes;
    if (givenGb * GiB < minBytes) {
      throw invalidParameter(`Disk size ${givenGb} GB is smaller than the size of the source (${Math.ceil(minBytes / GiB)} GB).`, 'diskSizeGB');
    }
    return givenGb * GiB;
  };
  switch (option.toLowerCase()) {
    case 'empty':
      if (isSnapshot) throw invalidParameter("Create option 'Empty' is not supported for snapshots.", 'creationData.createOption');
      if (givenGb === undefined) throw invalidParameter("Required parameter 'diskSizeGB' is missing (null).", 'diskSizeGB');
      return { kind: 'empty', sizeBytes: givenGb * GiB };
    case 'fromimage':
      if (isSnapshot || !cd?.imageReference) {
        throw invalidParameter("Required parameter 'creationData.imageReference' is missing (null).", 'creationData.imageReference');
      }
      return { kind: 'empty', sizeBytes: (givenGb ?? IMAGE_OS_DISK_GB) * GiB };
    case 'import': {
      if (typeof cd?.sourceUri !== 'string') {
        throw invalidParameter("Required parameter 'creationData.sourceUri' is missing (null).", 'creationData.sourceUri');
      }
      if (typeof cd?.storageAccountId !== 'string') {
        throw invalidParameter("Required parameter 'creationData.storageAccountId' is missing (null).", 'creationData.storageAccountId');
      }
      let size: number;
      try {
        size = await engine.disks.sourceSize(cd.sourceUri);
      } catch (e) {
        throw invalidParameter(`Source blob ${cd.sourceUri.split('?')[0]} is not accessible: ${String((e as Error).message ?? e)}`, 'creationData.sourceUri');
      }
      if (size % 512 !== 0) {
        throw invalidParameter(`The size of the source blob (${size} bytes) is not a multiple of 512 bytes.`, 'creationData.sourceUri');
      }
      return { kind: 'url', url: cd.sourceUri, sizeBytes: withGiven(Math.ceil(size / GiB) * GiB) };
    }
    case 'copy':
    case 'restore': {
      const src: unknown = cd?.sourceResourceId;
      if (typeof src !== 'string') {
        throw invalidParameter("Required parameter 'creationData.sourceResourceId' is missing (null).", 'creationData.sourceResourceId');
      }
      const t = resourceTypeOf(src);
      const allowed = option.toLowerCase() === 'copy' ? [DISK, SNAPSHOT] : [DRP];
      if (!t || !allowed.some((a) => a.toLowerCase() === t)) {
        throw invalidParameter(`Source resource ${src} is not a valid source for create option '${option}'.`, 'creationData.sourceResourceId');
      }
      const res = engine.store.get(src);
      if (!res) throw notFoundRef(src);
      if (!isReady(res)) {
        throw conflict('Conflict', `Source resource ${res.id} is not ready (provisioningState ${res.body.properties?.provisioningState}).`);
      }
      const srcLocation = res.body.location ?? engine.store.get(parentId(parentId(res.id)!)!)?.body.location;
      if (srcLocation && srcLocation !== location) {
        throw invalidParameter(`Source resource ${res.id} is in location '${srcLocation}'; it cannot be used in location '${location}'.`, 'creationData.sourceResourceId');
      }
      return { kind: 'resource', resourceId: res.id, sizeBytes: withGiven(sizeBytesOf(res)) };
    }
    case 'upload': {
      if (isSnapshot) throw invalidParameter("Create option 'Upload' is not supported for snapshots.", 'creationData.createOption');
      const size = Number(cd?.uploadSizeBytes);
      if (!Number.isInteger(size) || size <= 0 || size % 512 !== 0) {
        throw invalidParameter("Parameter 'creationData.uploadSizeBytes' must be a positive multiple of 512.", 'creationData.uploadSizeBytes');
      }
      return { kind: 'upload', sizeBytes: size };
    }
    default:
      throw invalidParameter(`Create option '${option}' is not supported.`, 'creationData.createOption');
  }
}

export async function createDiskContent(engine: ArmEngine, res: StoredResource): Promise<void> {
  const source = res.internal.source as DiskSource | undefined;
  if (!source) return;
  switch (source.kind) {
    case 'empty':
    case 'upload':
      await engine.disks.create(res.id, source.sizeBytes);
      break;
    case 'url':
      await engine.disks.createFromUrl(res.id, source.sizeBytes, source.url!);
      break;
    case 'resource':
      if (!engine.store.get(source.resourceId!)) throw notFoundRef(source.resourceId!);
      await engine.disks.createFromResource(res.id, source.sizeBytes, source.resourceId!);
      break;
  }
  delete res.internal.source;
  if (res.type === SNAPSHOT && res.body.properties.incremental) res.body.properties.completionPercent = 100;
}
