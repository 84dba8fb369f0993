// Package deploy holds no code: its directory holds what runs Rockstar in
// containers (docker/build.sh, which the repository's Dockerfile runs, the
// image's rockstar.toml, and kubernetes/, the manifests), and its tests
// check them: the binary the image would ship is static and runs, the
// Dockerfile and the config agree, and every manifest validates against
// the Kubernetes schemas in kubernetes/schemas (kubeconform, strict), with
// probes, ports and grace periods that match the config.
package deploy
