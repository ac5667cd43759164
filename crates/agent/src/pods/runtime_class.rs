//! The OCI runtime of a pod: the agent's default, or the one its RuntimeClass's handler names
//! (`runc`, `crun`, or any runtime with runc's command line, found on PATH). Each handler keeps
//! its own state root under `<agent-dir>/run/<handler>`.

use std::path::Path;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::node::v1::RuntimeClass;
use kube::Api;

use crate::runtime::Runtime;

/// The runtime for `pod`; an error is the message of its failed sandbox.
pub async fn runtime_for(
    client: &kube::Client,
    default: &Runtime,
    agent_dir: &Path,
    pod: &Pod,
) -> Result<Runtime, String> {
    let Some(class) = pod.spec.as_ref().and_then(|s| s.runtime_class_name.clone()).filter(|c| !c.is_empty()) else {
        return Ok(default.clone());
    };
    let api: Api<RuntimeClass> = Api::all(client.clone());
    let rc = api
        .get_opt(&class)
        .await
        .map_err(|e| format!("reading RuntimeClass {class:?}: {e}"))?
        .ok_or_else(|| format!("RuntimeClass \"{class}\" not found"))?;
    handler_runtime(&rc.handler, default, agent_dir)
}

/// A handler's runtime: its binary on PATH (or the default runtime's, for the default's name).
pub fn handler_runtime(handler: &str, default: &Runtime, agent_dir: &Path) -> Result<Runtime, String> {
    let default_name = Path::new(&default.binary).file_name().and_then(|n| n.to_str()).unwrap_or("runc");
    if handler == default_name {
        return Ok(default.clone());
    }
    if handler.is_empty() || !handler.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(format!("RuntimeHandler {handler:?} is not a valid handler name"));
    }
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join(handler)).find(|c| c.is_file()))
        .unwrap_or_default();
    let binary =
        found.ok_or_else(|| format!("RuntimeHandler \"{handler}\" not supported: no {handler} binary on this node"))?;
    Ok(Runtime {
        binary: binary.display().to_string(),
        root: agent_dir.join("run").join(handler),
        self_exe: default.self_exe.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handlers_map_to_binaries_with_their_own_roots() {
        let default = Runtime { binary: "runc".into(), root: "/a/run/runc".into(), self_exe: "/skiff".into() };
        assert_eq!(handler_runtime("runc", &default, Path::new("/a")).unwrap().root, Path::new("/a/run/runc"));
        let sh = handler_runtime("sh", &default, Path::new("/a")).unwrap();
        assert_eq!((sh.binary.ends_with("/sh"), sh.root.as_path()), (true, Path::new("/a/run/sh")));
        assert!(handler_runtime("no-such-runtime", &default, Path::new("/a")).unwrap_err().contains("not supported"));
        assert!(handler_runtime("../x", &default, Path::new("/a")).unwrap_err().contains("not a valid"));
    }
}
