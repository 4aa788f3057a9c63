-- A drill: creates a Test FailoverRequest of this VM from its newest sealed point (as
-- `site-recovery failover NAME --type Test`). The test VM runs in the target region's test network
-- until the request is cleaned up (the FailoverRequest's cleanup action). The ReplicatedVM owns the
-- request, so Argo CD shows it under the VM.
local os = require("os")
local request = {}
request.apiVersion = "siterecovery.io/v1alpha1"
request.kind = "FailoverRequest"
request.metadata = {}
request.metadata.name = obj.metadata.name .. "-drill-" .. os.date("!%Y%m%d%H%M%S")
request.metadata.namespace = obj.metadata.namespace
request.metadata.ownerReferences = {
  {apiVersion = obj.apiVersion, kind = obj.kind, name = obj.metadata.name, uid = obj.metadata.uid},
}
request.spec = {replicatedVMName = obj.metadata.name, type = "Test", recoveryPoint = "LatestProcessed"}
return {{operation = "create", resource = request}}
