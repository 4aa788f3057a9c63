// Label and annotation names of the API that several processes rely on (hand-written, not generated).

/** On RecoveryPoints: the ReplicatedVM the point belongs to. */
export const REPLICATED_VM_LABEL = 'siterecovery.io/replicated-vm';

/**
 * On a ReplicatedVM: a token asking the datapath to capture and apply now, then seal a point; answered in
 * status.replication.syncNow (used by Planned failovers and "Latest" recovery points).
 */
export const SYNC_NOW_ANNOTATION = 'siterecovery.io/sync-now';

/** On the NetworkMapping and ReplicatedVM re-protect creates: the FailoverRequest that created them. */
export const REPROTECT_OF_LABEL = 'siterecovery.io/reprotect-of';
