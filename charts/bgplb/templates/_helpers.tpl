{{/* The chart's name, or nameOverride. */}}
{{- define "bgplb.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The prefix of every object name: fullnameOverride, or the release name with
the chart's name appended unless the release name already contains it.
Names stay within 52 characters so that suffixes such as "-controller" and
"-metrics-reader" keep them within the 63 a label value allows.
*/}}
{{- define "bgplb.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "bgplb.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "bgplb.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "bgplb.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component; call with (list $ "controller"). */}}
{{- define "bgplb.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "bgplb.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* Image reference of one component; call with (list $ "controller"). */}}
{{- define "bgplb.image" -}}
{{- $root := index . 0 -}}
{{- printf "%s/%s:%s" (trimSuffix "/" $root.Values.image.registry) (index . 1) (default $root.Chart.AppVersion $root.Values.image.tag) -}}
{{- end -}}

{{/* The ServiceAccount name of one component; call with (list $ "speaker"). */}}
{{- define "bgplb.serviceAccountName" -}}
{{- printf "%s-%s" (include "bgplb.fullname" (index . 0)) (index . 1) -}}
{{- end -}}

{{/*
The container securityContext of both components: no privilege, no
capability, nothing written outside the /tmp volume. The speaker may add
capabilities through speaker.extraCapabilities.
*/}}
{{- define "bgplb.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
capabilities:
  drop: ["ALL"]
  {{- with . }}
  add:
    {{- toYaml . | nindent 4 }}
  {{- end }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}


{{/*
The speaker's securityContext with the director's datapath: the user root,
for the node's bpffs, but no capability beyond those the datapath needs
and the extra ones given.
*/}}
{{- define "bgplb.directorSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: false
runAsUser: 0
runAsGroup: 0
capabilities:
  drop: ["ALL"]
  add:
    {{- toYaml (concat (list "BPF" "PERFMON" "NET_ADMIN" "NET_RAW") (. | default list) | uniq) | nindent 4 }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}
