//! The store's index (`index.json`): which images exist, their references and layers, and which
//! air-gap archives were imported. It is small and rewritten whole: always to a temp file renamed
//! over the old one under the store lock, so readers (which take no lock) see the old or the new
//! index, never half of one.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::ImageError;
use super::reference::{self, Reference};

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Index {
    /// By image id (`sha256:<config digest>`).
    #[serde(default)]
    pub images: BTreeMap<String, ImageRecord>,
    /// Unpacked layers by diff id, with the size of their uncompressed tar.
    #[serde(default)]
    pub layers: BTreeMap<String, u64>,
    /// Archives of the air-gap dir already imported, by path.
    #[serde(default)]
    pub imported: BTreeMap<PathBuf, Stamp>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ImageRecord {
    /// Diff ids, lowest first.
    pub layers: Vec<String>,
    /// Digest of the manifest (or index) blob kept for this image, when the archive had one.
    #[serde(default)]
    pub manifest: Option<String>,
    #[serde(default)]
    pub repo_tags: Vec<String>,
    #[serde(default)]
    pub repo_digests: Vec<String>,
}

/// What identifies an archive's version without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Stamp {
    pub size: u64,
    pub mtime_ns: i128,
}

/// How a reference matched an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Match {
    Tag(String),
    Digest(String),
    Id,
}

impl Index {
    /// Find the image `reference` names: a tag or digest reference, or an image id (full, or a
    /// prefix with or without `sha256:` that matches one image). Names are tried first, as Docker
    /// does, since a short hex string is also a valid name.
    pub(crate) fn find(&self, reference: &str) -> Result<Option<(String, Match)>, ImageError> {
        if self.images.contains_key(reference) {
            return Ok(Some((reference.to_string(), Match::Id)));
        }
        let parsed = reference::parse(reference);
        if let Ok(r) = &parsed
            && let Some(found) = self.find_named(r)
        {
            return Ok(Some(found));
        }
        let hex = reference.strip_prefix("sha256:").unwrap_or(reference);
        let id_like =
            !hex.is_empty() && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !id_like {
            return parsed.map(|_| None);
        }
        let prefix = format!("sha256:{hex}");
        let mut ids = self.images.keys().filter(|id| id.starts_with(&prefix));
        match (ids.next(), ids.next()) {
            (Some(id), None) => Ok(Some((id.clone(), Match::Id))),
            (Some(_), Some(_)) => Err(ImageError::Ambiguous(reference.to_string())),
            (None, _) => Ok(None),
        }
    }

    fn find_named(&self, r: &Reference) -> Option<(String, Match)> {
        // A digest pins content: it wins over a tag given with it.
        let (wanted, found): (String, fn(&ImageRecord, &str) -> bool) = match (r.digested(), r.tagged()) {
            (Some(d), _) => (d, |i, d| i.repo_digests.iter().any(|x| x == d)),
            (None, Some(t)) => (t, |i, t| i.repo_tags.iter().any(|x| x == t)),
            (None, None) => return None,
        };
        let id = self.images.iter().find(|(_, i)| found(i, &wanted))?.0.clone();
        Some((id, if r.digest.is_some() { Match::Digest(wanted) } else { Match::Tag(wanted) }))
    }

    /// Record an image with these references. A tag names one image: it moves here from any
    /// other image that had it (which stays, untagged, as with `docker load`).
    pub(crate) fn add(&mut self, id: &str, record: ImageRecord, tags: &[String], digests: &[String]) {
        for (other, image) in self.images.iter_mut() {
            if other != id {
                image.repo_tags.retain(|t| !tags.contains(t));
            }
        }
        let image = self.images.entry(id.to_string()).or_insert(ImageRecord {
            repo_tags: vec![],
            repo_digests: vec![],
            ..record
        });
        for t in tags {
            if !image.repo_tags.contains(t) {
                image.repo_tags.push(t.clone());
            }
        }
        for d in digests {
            if !image.repo_digests.contains(d) {
                image.repo_digests.push(d.clone());
            }
        }
    }

    /// Drop the reference `how` from image `id`; the image goes when no reference is left.
    /// Removing a tag also drops the digests of its repository once no other tag of that
    /// repository is left, so `rm name` after an OCI import leaves nothing behind. Returns
    /// whether the image went.
    pub(crate) fn unreference(&mut self, id: &str, how: &Match) -> bool {
        let Some(image) = self.images.get_mut(id) else { return false };
        match how {
            Match::Id => {
                image.repo_tags.clear();
                image.repo_digests.clear();
            }
            Match::Digest(d) => image.repo_digests.retain(|x| x != d),
            Match::Tag(t) => {
                image.repo_tags.retain(|x| x != t);
                let repo = repository(t);
                if !image.repo_tags.iter().any(|x| repository(x) == repo) {
                    image.repo_digests.retain(|x| repository(x) != repo);
                }
            }
        }
        if image.repo_tags.is_empty() && image.repo_digests.is_empty() {
            self.images.remove(id);
            return true;
        }
        false
    }

    /// Forget the sizes of layers no image uses any more.
    pub(crate) fn prune_layers(&mut self) {
        let used: std::collections::BTreeSet<&String> = self.images.values().flat_map(|i| &i.layers).collect();
        self.layers.retain(|l, _| used.contains(l));
    }

    /// Sum of the image's layer sizes (uncompressed, as unpacked).
    pub(crate) fn size(&self, image: &ImageRecord) -> u64 {
        image.layers.iter().map(|l| self.layers.get(l).copied().unwrap_or(0)).sum()
    }
}

/// The repository of a normalised `name:tag` or `name@digest`.
pub(crate) fn repository(reference: &str) -> &str {
    if let Some((name, _)) = reference.split_once('@') {
        return name;
    }
    match reference.rfind(':') {
        Some(i) if !reference[i..].contains('/') => &reference[..i],
        _ => reference,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn index() -> Index {
        let mut ix = Index::default();
        let d = format!("docker.io/library/a@{}", id('d'));
        ix.add(&id('a'), ImageRecord::default(), &["docker.io/library/a:latest".into()], &[d]);
        ix.add(&id('b'), ImageRecord::default(), &["docker.io/library/b:1".into()], &[]);
        ix.add(&format!("sha256:ab{}", "0".repeat(62)), ImageRecord::default(), &["x.io/c:2".into()], &[]);
        ix
    }

    #[test]
    fn finds_by_tag_digest_and_id_prefix() {
        let ix = index();
        assert_eq!(ix.find("a").unwrap().unwrap().0, id('a'));
        assert_eq!(ix.find(&format!("a@{}", id('d'))).unwrap().unwrap().0, id('a'));
        assert_eq!(ix.find("b:1").unwrap().unwrap().0, id('b'));
        assert_eq!(ix.find("bbb").unwrap().unwrap(), (id('b'), Match::Id));
        assert_eq!(ix.find(&id('b')).unwrap().unwrap(), (id('b'), Match::Id));
        assert_eq!(ix.find("sha256:bb").unwrap().unwrap().0, id('b'));
        assert!(ix.find("b:2").unwrap().is_none());
        assert!(matches!(ix.find("a").unwrap().unwrap().1, Match::Tag(_)));
    }

    #[test]
    fn an_ambiguous_id_prefix_is_an_error() {
        assert!(matches!(index().find("a"), Ok(Some(_))), "the name wins over the id prefix");
        assert!(matches!(index().find("sha256:a"), Err(ImageError::Ambiguous(_))));
    }

    #[test]
    fn a_bad_name_that_is_no_id_is_an_error() {
        assert!(matches!(index().find("Not/Valid"), Err(ImageError::BadReference { .. })));
    }

    #[test]
    fn a_tag_moves_to_the_image_imported_last() {
        let mut ix = index();
        ix.add(&id('e'), ImageRecord::default(), &["docker.io/library/b:1".into()], &[]);
        assert_eq!(ix.find("b:1").unwrap().unwrap().0, id('e'));
        assert!(ix.images[&id('b')].repo_tags.is_empty());
    }

    #[test]
    fn removing_the_last_tag_of_a_repository_drops_its_digests_and_the_image() {
        let mut ix = index();
        assert!(ix.unreference(&id('a'), &Match::Tag("docker.io/library/a:latest".into())));
        assert!(!ix.images.contains_key(&id('a')));
    }

    #[test]
    fn repository_of_references() {
        assert_eq!(repository("localhost:5000/x:1"), "localhost:5000/x");
        assert_eq!(repository("localhost:5000/x@sha256:00"), "localhost:5000/x");
    }
}
