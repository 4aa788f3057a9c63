{{/*
Names. The operator's objects are named <fullname>, the datapath's <fullname>-datapath.
*/}}
{{- define "sro.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sro.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "sro.operator.fullname" -}}
{{- include "sro.fullname" . }}
{{- end }}

{{- define "sro.datapath.fullname" -}}
{{- printf "%s-datapath" (include "sro.fullname" . | trunc 54 | trimSuffix "-") }}
{{- end }}

{{- define "sro.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Recommended labels (https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/).
*/}}
{{- define "sro.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sro.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "sro.labels" -}}
helm.sh/chart: {{ include "sro.chart" . }}
{{ include "sro.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: site-recovery-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels of one component ("operator" or "datapath"): call with (dict "root" $ "component" "operator"). */}}
{{- define "sro.componentLabels" -}}
{{ include "sro.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "sro.componentSelectorLabels" -}}
{{ include "sro.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "sro.operator.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (include "sro.operator.fullname" .) .Values.operator.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "sro.datapath.serviceAccountName" -}}
{{- if .Values.datapath.serviceAccount.create }}
{{- default (include "sro.datapath.fullname" .) .Values.datapath.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.datapath.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The Azure subscription: without it both processes exit at start (a crash loop), so the chart refuses to render.
*/}}
{{- define "sro.subscriptionId" -}}
{{- required "azure.subscriptionId is required: the Azure subscription that holds the protected VMs and their targets (--set azure.subscriptionId=<subscription-id>)" .Values.azure.subscriptionId }}
{{- end }}

{{- define "sro.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
ServiceAccount annotations: Azure workload identity's client id (per component, else the shared one), then
the component's own annotations.
*/}}
{{- define "sro.serviceAccountAnnotations" -}}
{{- $wi := .root.Values.azure.workloadIdentity }}
{{- $annotations := dict }}
{{- if $wi.enabled }}
{{- $clientId := .component.serviceAccount.clientId | default $wi.clientId }}
{{- if $clientId }}
{{- $_ := set $annotations "azure.workload.identity/client-id" $clientId }}
{{- end }}
{{- if $wi.tenantId }}
{{- $_ := set $annotations "azure.workload.identity/tenant-id" $wi.tenantId }}
{{- end }}
{{- end }}
{{- $annotations = merge (deepCopy (.component.serviceAccount.annotations | default dict)) $annotations }}
{{- if $annotations -}}
annotations:
  {{- toYaml $annotations | nindent 2 }}
{{- end }}
{{- end }}

{{/* The pod template of one component: (dict "root" $ "component" "operator" "values" .Values.operator "args" (list ...)). */}}
{{- define "sro.podTemplate" -}}
{{- $root := .root }}
{{- $v := .values -}}
metadata:
  labels:
    {{- include "sro.componentLabels" (dict "root" $root "component" .component) | nindent 4 }}
    {{- if $root.Values.azure.workloadIdentity.enabled }}
    azure.workload.identity/use: "true"
    {{- end }}
    {{- with $v.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
    {{- with $v.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ .serviceAccountName }}
  automountServiceAccountToken: true
  enableServiceLinks: false
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
  securityContext:
    {{- toYaml $root.Values.podSecurityContext | nindent 4 }}
  containers:
    - name: {{ .component }}
      image: {{ include "sro.image" $root }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      {{- with $v.nodeOptions }}
      {{- /* V8 options as node's own arguments: NODE_OPTIONS refuses some (--optimize-for-size). The path is the Dockerfile's ENTRYPOINT. */}}
      command:
        - node
        {{- range (splitList " " .) }}
        {{- if . }}
        - {{ . | quote }}
        {{- end }}
        {{- end }}
        - /app/bin/site-recovery.js
      {{- end }}
      args:
        {{- toYaml .args | nindent 8 }}
        {{- with $v.extraArgs }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      env:
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        - name: POD_NAMESPACE
          valueFrom:
            fieldRef:
              fieldPath: metadata.namespace
        {{- with $v.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      envFrom:
        - configMapRef:
            name: {{ include "sro.fullname" $root }}-config
      ports:
        - name: metrics
          containerPort: {{ $root.Values.metrics.port }}
          protocol: TCP
      livenessProbe:
        httpGet:
          path: /healthz
          port: metrics
        {{- toYaml $v.livenessProbe | nindent 8 }}
      readinessProbe:
        httpGet:
          path: /readyz
          port: metrics
        {{- toYaml $v.readinessProbe | nindent 8 }}
      resources:
        {{- toYaml $v.resources | nindent 8 }}
      securityContext:
        {{- toYaml $root.Values.containerSecurityContext | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: {{ $root.Values.tmpSizeLimit }}
  {{- with $v.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if $v.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- range $v.topologySpreadConstraints }}
    - {{ toYaml (omit . "labelSelector") | indent 6 | trim }}
      labelSelector:
        matchLabels:
          {{- include "sro.componentSelectorLabels" (dict "root" $root "component" $.component) | nindent 10 }}
    {{- end }}
  {{- end }}
{{- end }}

{{/*
Where the roles for the siterecovery.io kinds apply. Watching one namespace (operator.watchNamespace), they are
a Role and a RoleBinding in it; otherwise a ClusterRole and a ClusterRoleBinding. Call with the root context.
*/}}
{{- define "sro.watchRoleKind" -}}
{{- if .Values.operator.watchNamespace }}Role{{ else }}ClusterRole{{ end }}
{{- end }}

{{- define "sro.watchBindingKind" -}}
{{- if .Values.operator.watchNamespace }}RoleBinding{{ else }}ClusterRoleBinding{{ end }}
{{- end }}

