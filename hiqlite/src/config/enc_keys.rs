//! [`EncKeys`]: the keys backups are encrypted with, written as cryptr writes them: one key per
//! entry, `ID/BASE64` (an id of 2 to 20 characters `a-z A-Z 0-9 _ - :`, a slash, and 32 random
//! bytes in standard base64). `ENC_KEYS` holds the entries separated by newlines or spaces;
//! `ENC_KEY_ACTIVE` names the one new backups use. Older keys stay in the list to read older
//! backups. Never printed: `Debug` shows only the ids.

use std::fmt;

use base64::Engine as _;

/// Length of a key in bytes (XChaCha20-Poly1305, as cryptr).
pub const ENC_KEY_LEN: usize = 32;

/// One encryption key: an id and its 32 bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct EncKey {
    id: String,
    key: [u8; ENC_KEY_LEN],
}

impl EncKey {
    /// Parses `ID/BASE64`.
    ///
    /// # Errors
    /// A message naming the id (never the key): a missing `/`, an id that is empty, too long or
    /// has other characters, base64 that does not decode, or a key that is not 32 bytes.
    ///
    /// ```
    /// let k = hiqlite::config::EncKey::parse("k1/AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
    /// assert_eq!(k.id(), "k1");
    /// ```
    pub fn parse(entry: &str) -> Result<EncKey, String> {
        let entry = entry.trim();
        let Some((id, b64)) = entry.split_once('/') else {
            return Err("an encryption key must be written ID/BASE64 (no `/` found)".into());
        };
        check_key_id(id)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| format!("key {id:?}: its value is not standard base64"))?;
        let key: [u8; ENC_KEY_LEN] = bytes.try_into().map_err(|b: Vec<u8>| {
            format!(
                "key {id:?}: {} bytes after base64 decoding, expected {ENC_KEY_LEN}",
                b.len()
            )
        })?;
        Ok(EncKey {
            id: id.to_string(),
            key,
        })
    }

    /// A key from its parts (tests, tools).
    ///
    /// # Errors
    /// An id as [`parse`](Self::parse) refuses it.
    pub fn new(id: impl Into<String>, key: [u8; ENC_KEY_LEN]) -> Result<EncKey, String> {
        let id = id.into();
        check_key_id(&id)?;
        Ok(EncKey { id, key })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The key's bytes, for the cipher.
    pub fn bytes(&self) -> &[u8; ENC_KEY_LEN] {
        &self.key
    }
}

impl fmt::Debug for EncKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncKey({:?}, ***)", self.id)
    }
}

/// Checks an id as cryptr does: 2 to 20 characters of `a-z A-Z 0-9 _ - :`.
pub fn check_key_id(id: &str) -> Result<(), String> {
    let ok_chars = id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':'));
    if (2..=20).contains(&id.len()) && ok_chars {
        Ok(())
    } else {
        Err(format!(
            "key id {id:?}: must be 2 to 20 characters of a-z A-Z 0-9 _ - :"
        ))
    }
}

/// All keys, and the id of the one new backups are encrypted with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EncKeys {
    pub keys: Vec<EncKey>,
    pub active: Option<String>,
}

impl EncKeys {
    /// The key with this id.
    pub fn get(&self, id: &str) -> Option<&EncKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// The active key, if `active` names one of `keys`.
    pub fn active_key(&self) -> Option<&EncKey> {
        self.active.as_deref().and_then(|id| self.get(id))
    }

    /// The ids of all keys, in order.
    pub fn ids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.id.clone()).collect()
    }

    /// Problems: duplicate ids, an active id that is no key, keys without an active id.
    pub(super) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (i, k) in self.keys.iter().enumerate() {
            if self.keys[..i].iter().any(|o| o.id == k.id) {
                problems.push(format!("enc_keys: key id {:?} appears twice", k.id));
            }
        }
        match &self.active {
            Some(id) if self.get(id).is_none() => problems.push(format!(
                "enc_key_active {id:?} is not one of enc_keys (ids: {:?})",
                self.ids()
            )),
            None if !self.keys.is_empty() => problems.push(
                "enc_keys are set but enc_key_active is not (TOML `enc_key_active`, env \
                 ENC_KEY_ACTIVE): name the key new backups use"
                    .into(),
            ),
            _ => {}
        }
        problems
    }
}

/// Parses `ENC_KEYS`: entries separated by newlines, spaces or commas.
pub(super) fn parse_list<'a>(
    entries: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<EncKey>, Vec<String>> {
    let mut keys = Vec::new();
    let mut problems = Vec::new();
    for entry in entries {
        for part in entry
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|p| !p.is_empty())
        {
            match EncKey::parse(part) {
                Ok(k) => keys.push(k),
                Err(e) => problems.push(format!("enc_keys: {e}")),
            }
        }
    }
    if problems.is_empty() {
        Ok(keys)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn parses_cryptr_entries() {
        let keys = parse_list([format!("k1/{K}\nold_2/{K}").as_str()]).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[1].id(), "old_2");
        assert_eq!(keys[0].bytes()[31], 31);
        assert_eq!(format!("{:?}", keys[0]), "EncKey(\"k1\", ***)");
    }

    #[test]
    fn refuses_bad_entries_without_echoing_the_key() {
        let e = parse_list(["nokey", "k/abc", "k1/@@@", "k1/AAEC"]).unwrap_err();
        assert_eq!(e.len(), 4, "{e:?}");
        assert!(e[0].contains("no `/`"));
        assert!(e[1].contains("2 to 20"));
        assert!(e[2].contains("base64") && !e[2].contains("@@@"));
        assert!(e[3].contains("3 bytes"));
    }

    #[test]
    fn active_must_name_a_key() {
        let keys = parse_list([format!("k1/{K}").as_str()]).unwrap();
        let mut set = EncKeys { keys, active: None };
        assert!(set.problems()[0].contains("enc_key_active is not"));
        set.active = Some("k2".into());
        assert!(set.problems()[0].contains("not one of enc_keys"));
        set.active = Some("k1".into());
        assert!(set.problems().is_empty());
        assert_eq!(set.active_key().unwrap().id(), "k1");
    }
}
