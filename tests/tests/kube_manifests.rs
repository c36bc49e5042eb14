//! The Kubernetes manifests under `assets/kubernetes/` (issue 20, item 3) are valid
//! against the API's schemas (`kubernetes-validate --strict`, Kubernetes 1.33), hold
//! what the master needs (its RBAC covers every request `crate::kube` makes, its
//! Deployment runs `ui --kubernetes` under that service account, its Service is the
//! callback URL), and the image puts the binary where the worker pods' Job runs it.
//! The validator itself is shown to refuse a manifest with an unknown field, so a pass
//! means something. Not covered: building the image and applying the manifests to a
//! cluster (no Docker and no cluster on these machines; README says how).

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod kube_support;

use std::path::{Path, PathBuf};

fn assets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/kubernetes")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(assets().join(name)).unwrap()
}

#[test]
fn the_manifests_are_valid_kubernetes_objects() {
    let files: Vec<PathBuf> = ["namespace.yaml", "rbac.yaml", "master.yaml"]
        .iter()
        .map(|f| assets().join(f))
        .collect();
    let (ok, text) = kube_support::validate(&files);
    assert!(ok, "{text}");
    for resource in [
        "namespace/gossipper",
        "serviceaccount/gossipper-master",
        "role/gossipper-master",
        "rolebinding/gossipper-master",
        "persistentvolumeclaim/gossipper-data",
        "deployment/gossipper-master",
        "service/gossipper-master",
    ] {
        assert!(
            text.contains(&format!("passed for resource {resource} ")),
            "{resource}: {text}"
        );
    }
    // The check has teeth: an unknown field fails it.
    let dir = gossipper_e2e::scratch_dir("kube-manifests");
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        read("namespace.yaml").replace("metadata:", "replicas: 2\nmetadata:"),
    )
    .unwrap();
    let (ok, text) = kube_support::validate(&[bad]);
    assert!(!ok, "an unknown field must fail: {text}");
}

#[test]
fn the_role_covers_what_the_master_asks_and_the_image_what_the_pods_run() {
    let rbac = read("rbac.yaml");
    for rule in [
        "resources: [\"jobs\"]\n    verbs: [\"create\", \"get\", \"list\", \"watch\", \"delete\"]",
        "resources: [\"configmaps\"]\n    verbs: [\"create\", \"get\", \"delete\"]",
        "resources: [\"pods\", \"pods/log\"]\n    verbs: [\"get\", \"list\", \"watch\"]",
    ] {
        assert!(rbac.contains(rule), "rbac.yaml lacks {rule}");
    }
    let master = read("master.yaml");
    for needed in [
        "serviceAccountName: gossipper-master",
        "- --kubernetes\n",
        "- --kubernetes-callback=http://gossipper-master.gossipper.svc:8080",
        "kind: Service",
    ] {
        assert!(master.contains(needed), "master.yaml lacks {needed}");
    }
    let docker = read("Dockerfile");
    // The Job's container runs /usr/local/bin/gossipper (kube::objects::BINARY).
    assert!(docker.contains("COPY --from=build /out/gossipper /usr/local/bin/gossipper"));
    assert!(docker.contains("WORKDIR /work"));
}
