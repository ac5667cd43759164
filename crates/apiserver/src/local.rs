//! In-process clients: a `kube::Client` whose requests go straight into [`ApiServer::serve`],
//! so the scheduler and controllers use the same code path as every remote client
//! (admission, validation, watch) without TCP, TLS or authentication round trips.

use std::convert::Infallible;
use std::sync::Arc;

use crate::ApiServer;
use crate::authn::User;

impl ApiServer {
    /// A client that acts as `user` (a system component's name such as
    /// `system:kube-scheduler`) in `groups`.
    pub fn local_client(self: &Arc<Self>, user: &str, groups: &[&str]) -> kube::Client {
        let api = self.clone();
        let mut groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        groups.push("system:authenticated".to_string());
        let user = User { name: user.to_string(), uid: String::new(), groups };
        let service = tower::service_fn(move |req: ::http::Request<kube::client::Body>| {
            let api = api.clone();
            let user = user.clone();
            async move { Ok::<_, Infallible>(api.serve(req, user).await) }
        });
        kube::Client::new(service, "default")
    }
}
