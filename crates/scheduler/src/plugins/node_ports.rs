//! NodePorts: a pod's host ports must be free on the node.

use crate::cache::Cache;
use crate::framework::{CycleState, FilterPlugin, PreFilterPlugin, Status};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

pub const NAME: &str = "NodePorts";

pub struct NodePorts;

impl PreFilterPlugin for NodePorts {
    fn name(&self) -> &'static str {
        NAME
    }

    fn pre_filter(&self, _: &mut CycleState, pod: &PodInfo, _: &Cache) -> Status {
        if pod.host_ports.is_empty() { Status::skip() } else { Status::success() }
    }
}

impl FilterPlugin for NodePorts {
    fn name(&self) -> &'static str {
        NAME
    }

    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Cache) -> Status {
        let clash = pod.host_ports.iter().any(|want| node.used_ports.iter().any(|used| used.conflicts(want)));
        if clash {
            Status::unschedulable("node(s) didn't have free ports for the requested pod ports")
        } else {
            Status::success()
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::pod_info::HostPort;

    fn hp(ip: &str, proto: &str, port: i32) -> HostPort {
        HostPort { ip: ip.into(), protocol: proto.into(), port }
    }

    #[test]
    fn wildcard_addresses_clash_with_every_address() {
        assert!(hp("", "TCP", 80).conflicts(&hp("10.0.0.1", "TCP", 80)));
        assert!(hp("0.0.0.0", "TCP", 80).conflicts(&hp("", "TCP", 80)));
        assert!(!hp("10.0.0.2", "TCP", 80).conflicts(&hp("10.0.0.1", "TCP", 80)));
        assert!(!hp("", "UDP", 80).conflicts(&hp("", "TCP", 80)));
        assert!(!hp("", "TCP", 81).conflicts(&hp("", "TCP", 80)));
    }
}
