//! Compiles `proto-schemas/` into Rust with protox (a protobuf compiler in Rust), so building
//! Roster never needs a system `protoc`.

use std::path::PathBuf;

const PROTOS: &[&str] =
    &["roster/changes/v1/changes.proto", "roster/notifications/v1/notifications.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto-schemas");
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={}", root.join(proto).display());
    }
    let descriptors = protox::compile(PROTOS, [&root])?;
    prost_build::Config::new()
        // serde so that schema examples can be written as JSON (see proto-schemas/README.md).
        .type_attribute(".", "#[derive(serde::Serialize, serde::Deserialize)]")
        .message_attribute(".", "#[serde(default)]")
        .enum_attribute(
            ".roster.changes.v1.ChangeEvent.change",
            "#[serde(rename_all = \"snake_case\")]",
        )
        .enum_attribute(
            ".roster.notifications.v1.Notification.body",
            "#[serde(rename_all = \"snake_case\")]",
        )
        .compile_fds(descriptors)?;
    Ok(())
}
