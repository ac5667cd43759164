//! Kinds upstream prints with its default table convertor: NAME and CREATED AT. Every other
//! kind has its printer in the file of its API group.

use k8s_openapi::api as k8s;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;

use super::TablePrinter;

macro_rules! default_printer {
    ($($t:ty),* $(,)?) => { $(impl TablePrinter for $t {})* };
}

default_printer!(
    k8s::core::v1::LimitRange,
    k8s::rbac::v1::ClusterRole,
    k8s::rbac::v1::Role,
    apiextensions::CustomResourceDefinition,
);
