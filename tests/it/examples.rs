//! The deployment examples stay valid: the cloud-init user-data is YAML that cloud-init reads
//! (`#cloud-config` first) and the answers it writes pass `dpwizard answers --check`.

use crate::support::*;

#[test]
fn cloud_init_example_is_yaml_with_valid_answers_and_applies_them() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/cloud-init/user-data.yaml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.starts_with("#cloud-config\n"),
        "cloud-init ignores it otherwise"
    );
    let doc: yaml_serde::Value = yaml_serde::from_str(&text).unwrap();
    let files = doc["write_files"].as_sequence().unwrap();
    let answers = files
        .iter()
        .find(|f| f["path"].as_str() == Some("/etc/dpwizard/answers.toml"))
        .expect("the user-data writes the answers");
    assert_eq!(answers["permissions"].as_str(), Some("0600"));
    let (_dir, file) = answers_file(answers["content"].as_str().unwrap());
    let check = dpw(["answers", "--check", &file]);
    assert_eq!(check.code, 0, "{check:?}");
    let run = doc["runcmd"][0][2].as_str().unwrap();
    assert_contains_all(
        run,
        &[
            "sha256sum -c",
            "apt-get install -y /tmp/dpwizard.deb",
            "dpwizard apply --answers /etc/dpwizard/answers.toml --yes",
        ],
    );
}
