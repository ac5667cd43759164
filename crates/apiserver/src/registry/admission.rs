//! Namespace lifecycle admission: objects are created only in namespaces that exist and are not
//! being deleted, and the namespaces the system needs cannot be deleted.

use skiff_api::object;
use skiff_api::resources::{ResourceInfo, registry};
use skiff_api::{ApiError, Qualified};

use crate::ApiServer;
use crate::cache;

/// Namespaces that always exist.
pub const IMMORTAL_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public"];

impl ApiServer {
    /// Refuse creating a namespaced object where its namespace is missing or terminating.
    pub(crate) async fn check_namespace(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        name: &str,
    ) -> Result<(), ApiError> {
        if !info.namespaced {
            return Ok(());
        }
        let ns_info = registry().get("", "v1", "namespaces").expect("namespaces are served");
        let key = cache::key(ns_info, "", namespace);
        let found = self.cache.resource(ns_info).read().objects.get(&key).cloned();
        let found = match found {
            Some(o) => o,
            None => {
                // A namespace created a moment ago may not be in the cache yet.
                self.cache.wait_fresh().await?;
                self.cache
                    .resource(ns_info)
                    .read()
                    .objects
                    .get(&key)
                    .cloned()
                    .ok_or_else(|| ApiError::not_found(&Qualified::new("", "namespaces"), namespace))?
            }
        };
        if object::deletion_timestamp(&found.value()).is_some() {
            return Err(ApiError::forbidden(
                &info.qualified_resource(),
                name,
                &format!("unable to create new content in namespace {namespace} because it is being terminated"),
            ));
        }
        Ok(())
    }
}
