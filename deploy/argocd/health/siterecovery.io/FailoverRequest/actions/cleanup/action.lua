-- Cleans up a Test failover: the operator deletes the test VM, its network interfaces and its disks (as
-- `site-recovery cleanup NAME`). The request stays, in phase CleanedUp, as the record of the drill.
obj.spec.cleanup = true
return obj
