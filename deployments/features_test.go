package deployments

import (
	"fmt"
	"slices"
	"sort"

	"nergateway/internal/config"
)

// checkFeatureVariables checks that every variable the kit configures
// reaches each workload that runs the feature reading it: what the kit
// gives one workload or holds in its ConfigMap or Secret template, every
// other workload with that feature must receive as well. Features come
// from internal/config.Known (one table, beside the configuration), a
// workload's features from its command: `gateway replicate --once`
// replicates; `gateway` serves, and replicates unless it receives
// REPLICATION_ENABLED=false. What a container receives is resolved as
// the kubelet would: env, then envFrom of the ConfigMaps applied with the
// kit and of the Secrets the kit describes.
func (c *checker) checkFeatureVariables(objs []k8sObject, kustomized map[string]bool, configMaps, secrets map[string]k8sObject) {
	type workload struct {
		where, file string
		ct          container
		features    []config.Feature
		receives    map[string]bool
	}
	var workloads []workload
	provided := map[string]string{} // variable: where the kit configures it
	provide := func(name, where string) {
		if _, ok := provided[name]; !ok {
			provided[name] = where
		}
	}
	for name, cm := range configMaps {
		if kustomized[cm.File] {
			for k := range cm.Data {
				provide(k, "ConfigMap "+name)
			}
		}
	}
	for name, s := range secrets {
		for k := range s.StringData {
			if !fileItem.MatchString(k) {
				provide(k, "the Secret "+name+" (template)")
			}
		}
	}
	for _, o := range objs {
		spec := podSpecOf(o)
		if spec == nil || !kustomized[o.File] {
			continue
		}
		for _, ct := range spec.Containers {
			if !isGatewayImage(ct.Image) {
				continue
			}
			w := workload{where: o.Kind + " " + o.Metadata.Name + " container " + ct.Name, file: o.File, ct: ct, receives: map[string]bool{}}
			for _, ef := range ct.EnvFrom {
				var data []string
				if ef.ConfigMapRef != nil && kustomized[configMaps[ef.ConfigMapRef.Name].File] {
					for k := range configMaps[ef.ConfigMapRef.Name].Data {
						data = append(data, k)
					}
				}
				if ef.SecretRef != nil {
					for k := range secrets[ef.SecretRef.Name].StringData {
						data = append(data, k)
					}
				}
				for _, k := range data {
					w.receives[ef.Prefix+k] = true
				}
			}
			for _, e := range ct.Env {
				w.receives[e.Name] = true
				provide(e.Name, w.where)
			}
			w.features = []config.Feature{config.FeatureCommon}
			switch {
			case slices.Equal(ct.Args, []string{"replicate", "--once"}):
				w.features = append(w.features, config.FeatureReplication)
			case len(ct.Args) == 0:
				w.features = append(w.features, config.FeatureServe)
				if v, _ := containerEnv(ct, configMaps, "REPLICATION_ENABLED"); v != "false" {
					w.features = append(w.features, config.FeatureReplication)
				}
			}
			workloads = append(workloads, w)
		}
	}
	names := make([]string, 0, len(provided))
	for n := range provided {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		v, ok := config.Lookup(name)
		if !ok {
			continue // an unknown variable: checkVariable reports it
		}
		for _, w := range workloads {
			if slices.Contains(w.features, v.Feature) && !w.receives[name] {
				c.addf(w.file, "%s does not receive %s, which %s configures: %s needs it (%s; add it to env or envFrom)",
					w.where, name, provided[name], featureRunner(v.Feature), v.ReadBy)
			}
		}
	}
}

// featureRunner says which command runs a feature, for problem lines.
func featureRunner(f config.Feature) string {
	switch f {
	case config.FeatureReplication:
		return "replication (`gateway replicate --once`, or `gateway` without REPLICATION_ENABLED=false)"
	case config.FeatureServe:
		return "the serving gateway"
	}
	return fmt.Sprintf("every gateway command (%s)", f)
}

// podSpecOf is the pod spec of a workload, nil for other kinds.
func podSpecOf(o k8sObject) *podSpec {
	switch o.Kind {
	case "Pod":
		return &o.Spec.podSpec
	case "Deployment", "StatefulSet", "DaemonSet", "Job":
		if o.Spec.Template != nil {
			return &o.Spec.Template.Spec
		}
	case "CronJob":
		if o.Spec.JobTemplate != nil {
			return &o.Spec.JobTemplate.Spec.Template.Spec
		}
	}
	return nil
}
