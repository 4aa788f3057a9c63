// Workload generator and disk hashing for sandbox VMs (see writer.ts and hash.ts).
export { fillDisk, runWorkload, seededRandom, type FillDiskOptions, type WorkloadOptions, type WorkloadPattern, type WorkloadProgress, type WorkloadResult } from './writer.ts';
export { hashDisk, type HashDiskOptions } from './hash.ts';
export { pageBlobClient, type DiskCredential } from './clients.ts';
