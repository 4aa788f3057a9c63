/**
 * The target availability zone of a zonal source VM (ASR's zone mapping): spec.targetZone when set, else
 * the zone spec.zoneMappings maps the source zone to, else the same zone number (ASR's default). A VM in
 * no zone gets none unless spec.targetZone asks for one.
 */
import type { ReplicatedVMSpec } from '../../api/types.ts';

export function targetZoneOf(spec: Pick<ReplicatedVMSpec, 'targetZone' | 'zoneMappings'>, sourceZone: string | undefined): string | undefined {
  if (spec.targetZone) return spec.targetZone;
  if (!sourceZone) return undefined;
  return spec.zoneMappings?.find((m) => m.sourceZone === sourceZone)?.targetZone ?? sourceZone;
}
