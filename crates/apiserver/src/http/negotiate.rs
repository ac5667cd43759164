//! Content negotiation: what a response should be encoded as, and what a request body is.

use skiff_api::ApiError;

/// How to encode a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Json,
    Yaml,
    /// A `meta.k8s.io` Table (`kubectl get`), at v1 or v1beta1.
    Table(&'static str),
    /// `PartialObjectMetadata` / `PartialObjectMetadataList`, at v1 or v1beta1.
    Metadata(&'static str),
}

/// The media types offered in Accept, in the client's order; the first we can produce wins.
pub fn output(accept: Option<&str>) -> Result<Output, ApiError> {
    let Some(accept) = accept.map(str::trim).filter(|a| !a.is_empty()) else { return Ok(Output::Json) };
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("");
        let params: Vec<(&str, &str)> = parts.filter_map(|p| p.split_once('=')).collect();
        let param = |k: &str| params.iter().find(|(pk, _)| *pk == k).map(|(_, v)| *v);
        let json_like = matches!(media, "application/json" | "*/*" | "application/*");
        if let Some(r#as) = param("as") {
            if !json_like || param("g") != Some("meta.k8s.io") {
                continue;
            }
            let version = match param("v") {
                Some("v1") => "v1",
                Some("v1beta1") => "v1beta1",
                _ => continue,
            };
            match r#as {
                "Table" => return Ok(Output::Table(version)),
                "PartialObjectMetadata" | "PartialObjectMetadataList" => return Ok(Output::Metadata(version)),
                _ => continue,
            }
        }
        match media {
            "application/json" | "*/*" | "application/*" => return Ok(Output::Json),
            "application/yaml" => return Ok(Output::Yaml),
            _ => continue,
        }
    }
    Err(ApiError::not_acceptable("only the following media types are accepted: application/json, application/yaml"))
}

/// The format of a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    Json,
    Yaml,
    /// Kubernetes protobuf (kubectl 1.32+ typed clients send it).
    Protobuf,
    JsonPatch,
    MergePatch,
    StrategicMergePatch,
    ApplyPatch,
}

impl BodyFormat {
    pub fn is_patch(self) -> bool {
        !matches!(self, BodyFormat::Json | BodyFormat::Yaml | BodyFormat::Protobuf)
    }
}

pub fn body_format(content_type: Option<&str>) -> Result<BodyFormat, ApiError> {
    let media = content_type.unwrap_or("application/json").split(';').next().unwrap_or("").trim();
    Ok(match media {
        "" | "application/json" | "*/*" => BodyFormat::Json,
        "application/yaml" | "application/x-yaml" | "text/yaml" => BodyFormat::Yaml,
        "application/json-patch+json" => BodyFormat::JsonPatch,
        "application/merge-patch+json" => BodyFormat::MergePatch,
        "application/strategic-merge-patch+json" => BodyFormat::StrategicMergePatch,
        "application/apply-patch+yaml" => BodyFormat::ApplyPatch,
        "application/vnd.kubernetes.protobuf" => BodyFormat::Protobuf,
        other => return Err(ApiError::unsupported_media_type(other)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_get_asks_for_tables() {
        let a = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(output(Some(a)).unwrap(), Output::Table("v1"));
    }

    #[test]
    fn falls_back_in_order() {
        assert_eq!(output(Some("application/vnd.kubernetes.protobuf, application/json")).unwrap(), Output::Json);
        assert_eq!(output(None).unwrap(), Output::Json);
        assert_eq!(output(Some("application/yaml")).unwrap(), Output::Yaml);
        assert_eq!(
            output(Some("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1")).unwrap(),
            Output::Metadata("v1")
        );
        assert_eq!(output(Some("application/vnd.kubernetes.protobuf")).unwrap_err().code, 406);
    }

    #[test]
    fn body_formats() {
        assert_eq!(body_format(Some("application/json; charset=utf-8")).unwrap(), BodyFormat::Json);
        assert_eq!(body_format(Some("application/apply-patch+yaml")).unwrap(), BodyFormat::ApplyPatch);
        assert_eq!(body_format(Some("application/vnd.kubernetes.protobuf")).unwrap(), BodyFormat::Protobuf);
        assert_eq!(body_format(Some("application/cbor")).unwrap_err().code, 415);
    }
}
