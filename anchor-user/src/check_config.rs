//! `anchor check-config FILE`: every error of a configuration file, each with its line, where
//! [`Config::parse`] (what `anchor run` uses) stops at the first.
//!
//! The rules are not written twice: every key is checked by [`Config::parse`] itself, put alone
//! into [`TEMPLATE`], a minimal valid configuration. An error of that document is the key's
//! error, reported at the key's line. Keys of the template that the file lacks are missing keys.
//! Rules across keys (an interface configured twice, none at all) are checked last, on the file
//! with its faulty keys taken out.
//!
//! A syntax error stops the check: TOML cannot be read past it.

use std::{ops::Range, path::Path};

use toml_edit::{ArrayOfTables, DocumentMut, ImDocument, Item, Table};

use crate::config::{Config, ConfigError};

/// The smallest valid configuration: its keys are exactly the required ones (a unit test checks
/// both). A new required key of [`Config`] must be added here.
pub const TEMPLATE: &str = "locator = \"2001:db8::1\"\n\n\
                            [[interface]]\n\
                            name = \"chk0\"\n\
                            role = \"core\"\n";

/// The key of the array of interface tables.
const INTERFACE: &str = "interface";
/// The interface key that needs `role = "access"`.
const SOURCE_VALIDATION: &str = "source_validation";

/// Reads `path` and checks it: `Ok` with every error found (none when it is valid).
pub fn check_file(path: &Path) -> Result<Vec<ConfigError>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    Ok(check(&text, &path.display().to_string()))
}

/// Every error of the configuration `text`, in the order of the file (errors without a line
/// first); `origin` names it in the messages.
pub fn check(text: &str, origin: &str) -> Vec<ConfigError> {
    let Err(first) = Config::parse(text, origin) else {
        return Vec::new();
    };
    let (Ok(spanned), Ok(owned)) = (ImDocument::parse(text), text.parse::<DocumentMut>()) else {
        // A syntax error: toml reports it with its line, and nothing after it can be read.
        return vec![first];
    };
    let mut checker = Checker {
        text,
        origin,
        spanned: spanned.as_table(),
        owned: owned.as_table(),
        template: template(),
        problems: Vec::new(),
    };
    let repaired = checker.run();
    checker.check_across_keys(repaired);
    let mut problems = checker.problems;
    if problems.is_empty() {
        // Not expected: the whole file fails where every part passes. Report that failure.
        problems.push((None, first));
    }
    problems.sort_by_key(|(line, _)| *line);
    problems.into_iter().map(|(_, error)| error).collect()
}

fn template() -> DocumentMut {
    TEMPLATE.parse().unwrap_or_default()
}

/// 1-based line of byte `offset` of `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(1, |before| before.matches('\n').count() + 1)
}

/// The trimmed text of line `line` (1-based).
fn line_text(text: &str, line: usize) -> Option<String> {
    text.lines()
        .nth(line.checked_sub(1)?)
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
}

struct Checker<'a> {
    text: &'a str,
    origin: &'a str,
    spanned: &'a Table,
    owned: &'a Table,
    template: DocumentMut,
    /// Each error with the line it is sorted by.
    problems: Vec<(Option<usize>, ConfigError)>,
}

/// The parts of the file that passed, for the checks across keys.
struct Repaired {
    doc: DocumentMut,
    /// For each interface table kept in `doc`, its index in the file.
    interfaces: Vec<usize>,
}

impl Checker<'_> {
    fn line(&self, span: Option<Range<usize>>) -> Option<usize> {
        span.map(|span| line_of(self.text, span.start))
    }

    /// Parses `candidate`; an error is reported at `line` (where the key being checked is).
    fn try_candidate(&mut self, candidate: &DocumentMut, line: Option<usize>) -> bool {
        let origin = match line {
            Some(line) => format!("{}: line {line}", self.origin),
            None => self.origin.to_owned(),
        };
        match Config::parse(&candidate.to_string(), &origin) {
            Ok(_) => true,
            Err(ConfigError::Parse { message, .. }) => {
                let text = line.and_then(|line| line_text(self.text, line));
                self.problems.push((
                    line,
                    ConfigError::Parse {
                        origin: self.origin.to_owned(),
                        line,
                        text,
                        message,
                    },
                ));
                false
            }
            Err(error) => {
                self.problems.push((line, error));
                false
            }
        }
    }

    fn missing(&mut self, key: &str, line: Option<usize>, table: &str) {
        self.problems.push((
            line,
            ConfigError::Parse {
                origin: self.origin.to_owned(),
                line,
                text: line.and_then(|line| line_text(self.text, line)),
                message: format!("missing key `{key}`{table}"),
            },
        ));
    }

    /// Checks every key and interface table; returns what passed.
    fn run(&mut self) -> Repaired {
        let mut doc = DocumentMut::new();
        let mut interfaces = Vec::new();
        let interface_tables = self
            .owned
            .get(INTERFACE)
            .and_then(Item::as_array_of_tables)
            .zip(
                self.spanned
                    .get(INTERFACE)
                    .and_then(Item::as_array_of_tables),
            );
        for (key, item) in self.owned {
            if key == INTERFACE && interface_tables.is_some() {
                continue;
            }
            let line = self.line(self.spanned.get_key_value(key).and_then(|(k, _)| k.span()));
            let mut candidate = self.template.clone();
            candidate.insert(key, item.clone());
            if self.try_candidate(&candidate, line) {
                doc.insert(key, item.clone());
            }
        }
        for (key, item) in self.template.clone().iter() {
            if key == INTERFACE || doc.contains_key(key) {
                continue;
            }
            if !self.owned.contains_key(key) {
                self.missing(key, None, "");
            }
            // Faulty or missing: the template's value stands in for the checks across keys.
            doc.insert(key, item.clone());
        }
        if let Some((owned, spanned)) = interface_tables {
            let mut kept = ArrayOfTables::new();
            for (index, (table, spanned_table)) in owned.iter().zip(spanned.iter()).enumerate() {
                if self.check_interface(table, spanned_table) {
                    kept.push(table.clone());
                    interfaces.push(index);
                }
            }
            if kept.is_empty() {
                // Every table has errors: check the rules across keys with the template's.
                kept = self.template_interfaces();
            }
            doc.insert(INTERFACE, Item::ArrayOfTables(kept));
        }
        Repaired { doc, interfaces }
    }

    fn template_interfaces(&self) -> ArrayOfTables {
        self.template
            .get(INTERFACE)
            .and_then(Item::as_array_of_tables)
            .cloned()
            .unwrap_or_default()
    }

    /// Checks each key of one `[[interface]]` table in the template's table; true when all pass.
    fn check_interface(&mut self, table: &Table, spanned: &Table) -> bool {
        let mut ok = true;
        for (key, item) in table {
            let line = self.line(spanned.get_key_value(key).and_then(|(k, _)| k.span()));
            let mut candidate = self.template.clone();
            if let Some(first) = candidate
                .get_mut(INTERFACE)
                .and_then(Item::as_array_of_tables_mut)
                .and_then(|tables| tables.get_mut(0))
            {
                first.insert(key, item.clone());
                if key == SOURCE_VALIDATION {
                    // The key alone: its rule across keys (role = "access") is checked last.
                    first.insert("role", toml_edit::value("access"));
                }
            }
            ok &= self.try_candidate(&candidate, line);
        }
        let header = self.line(spanned.span());
        let required = self.template_interfaces();
        for (key, _) in required.iter().flat_map(Table::iter) {
            if !table.contains_key(key) {
                self.missing(key, header, " in [[interface]]");
                ok = false;
            }
        }
        ok
    }

    /// Checks the rules across keys on what passed. An interface configured more than once is
    /// reported at each repetition, `source_validation` on an interface that is not an access
    /// interface at its line.
    fn check_across_keys(&mut self, mut repaired: Repaired) {
        for _ in 0..=2 * repaired.interfaces.len() {
            match Config::parse(&repaired.doc.to_string(), self.origin) {
                Ok(_) => return,
                Err(ConfigError::SourceValidationNotAccess { name, .. }) => {
                    let Some(position) = Self::validated_non_access(&repaired, &name) else {
                        return;
                    };
                    let line =
                        self.interface_key_line(repaired.interfaces[position], SOURCE_VALIDATION);
                    let origin = match line {
                        Some(line) => format!("{}: line {line}", self.origin),
                        None => self.origin.to_owned(),
                    };
                    self.problems.push((
                        line,
                        ConfigError::SourceValidationNotAccess { origin, name },
                    ));
                    if let Some(table) = repaired
                        .doc
                        .get_mut(INTERFACE)
                        .and_then(Item::as_array_of_tables_mut)
                        .and_then(|tables| tables.get_mut(position))
                    {
                        table.remove(SOURCE_VALIDATION);
                    }
                }
                Err(ConfigError::DuplicateInterface { name, .. }) => {
                    let Some(position) = Self::repetition(&repaired, &name) else {
                        return;
                    };
                    let file_index = repaired.interfaces.remove(position);
                    let line = self.interface_name_line(file_index);
                    let origin = match line {
                        Some(line) => format!("{}: line {line}", self.origin),
                        None => self.origin.to_owned(),
                    };
                    self.problems
                        .push((line, ConfigError::DuplicateInterface { origin, name }));
                    if let Some(tables) = repaired
                        .doc
                        .get_mut(INTERFACE)
                        .and_then(Item::as_array_of_tables_mut)
                    {
                        tables.remove(position);
                    }
                }
                Err(error) => {
                    self.problems.push((None, error));
                    return;
                }
            }
        }
    }

    /// The position in `repaired` of the second table named `name`.
    fn repetition(repaired: &Repaired, name: &str) -> Option<usize> {
        let tables = repaired
            .doc
            .get(INTERFACE)
            .and_then(Item::as_array_of_tables)?;
        tables
            .iter()
            .enumerate()
            .filter(|(_, table)| table.get("name").and_then(Item::as_str) == Some(name))
            .nth(1)
            .map(|(position, _)| position)
    }

    /// The position in `repaired` of the first table named `name` with `source_validation`
    /// set.
    fn validated_non_access(repaired: &Repaired, name: &str) -> Option<usize> {
        let tables = repaired
            .doc
            .get(INTERFACE)
            .and_then(Item::as_array_of_tables)?;
        tables.iter().position(|table| {
            table.get("name").and_then(Item::as_str) == Some(name)
                && table.get(SOURCE_VALIDATION).and_then(Item::as_bool) == Some(true)
        })
    }

    /// The line of `name` in the file's interface table `index`.
    fn interface_name_line(&self, index: usize) -> Option<usize> {
        self.interface_key_line(index, "name")
    }

    /// The line of `key` in the file's interface table `index`.
    fn interface_key_line(&self, index: usize, key: &str) -> Option<usize> {
        let table = self
            .spanned
            .get(INTERFACE)
            .and_then(Item::as_array_of_tables)?
            .get(index)?;
        self.line(table.get_key_value(key).and_then(|(k, _)| k.span()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(text: &str) -> Vec<String> {
        check(text, "a.toml")
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn template_is_valid_and_minimal() {
        Config::parse(TEMPLATE, "template").expect("the template is valid");
        let doc = template();
        for (key, _) in doc.iter() {
            let mut without = doc.clone();
            without.remove(key);
            assert!(
                Config::parse(&without.to_string(), "template").is_err() || key == INTERFACE,
                "{key} is not required: take it out of TEMPLATE"
            );
        }
        let tables = doc
            .get(INTERFACE)
            .and_then(Item::as_array_of_tables)
            .expect("interfaces");
        for (key, _) in tables.iter().flat_map(Table::iter) {
            let mut without = doc.clone();
            if let Some(table) = without
                .get_mut(INTERFACE)
                .and_then(Item::as_array_of_tables_mut)
                .and_then(|t| t.get_mut(0))
            {
                table.remove(key);
            }
            assert!(
                Config::parse(&without.to_string(), "template").is_err(),
                "interface key {key} is not required: take it out of TEMPLATE"
            );
        }
    }

    #[test]
    fn valid_file_has_no_error() {
        let text = "locator = \"2001:db8:12::1\"\nmetrics_listen = \"\"\n\n[[interface]]\nname = \"eth0\"\nrole = \"core\"\n\n[[interface]]\nname = \"eth1\"\nrole = \"access\"\nxdp_mode = \"skb\"\n";
        assert!(check(text, "a.toml").is_empty());
    }

    #[test]
    fn reports_every_error_with_its_line() {
        let text = "\
locator = \"ff02::1\"
tunnel_mtu = 1200
tunel_mtu = 1500
outer_hop_limit = \"high\"
metrics_listen = \"localhost\"

[[interface]]
name = \"eth0\"
role = \"edge\"

[[interface]]
name = \"a/b\"
role = \"core\"
mode = \"skb\"

[[interface]]
role = \"access\"
";
        let got = messages(text);
        let lines: Vec<&str> = got.iter().map(String::as_str).collect();
        assert_eq!(lines.len(), 9, "{lines:#?}");
        assert_eq!(
            lines[0],
            "a.toml: line 1: locator = ff02::1 is not a unicast address"
        );
        assert_eq!(
            lines[1],
            "a.toml: line 2: tunnel_mtu = 1200 is below the minimum 1320"
        );
        assert!(
            lines[2].starts_with("a.toml: line 3: `tunel_mtu = 1500`: unknown field `tunel_mtu`"),
            "{}",
            lines[2]
        );
        assert!(
            lines[3].starts_with("a.toml: line 4: `outer_hop_limit = \"high\"`: "),
            "{}",
            lines[3]
        );
        assert!(
            lines[4].starts_with("a.toml: line 5: `metrics_listen = \"localhost\"`: ")
                && lines[4].contains("expected IP:PORT"),
            "{}",
            lines[4]
        );
        assert!(
            lines[5].starts_with("a.toml: line 9: `role = \"edge\"`: "),
            "{}",
            lines[5]
        );
        assert!(
            lines[6].starts_with("a.toml: line 12: interface name \"a/b\" is invalid"),
            "{}",
            lines[6]
        );
        assert!(
            lines[7].starts_with("a.toml: line 14: `mode = \"skb\"`: unknown field `mode`"),
            "{}",
            lines[7]
        );
        assert_eq!(
            lines[8],
            "a.toml: line 16: `[[interface]]`: missing key `name` in [[interface]]"
        );
    }

    #[test]
    fn missing_keys_and_rules_across_keys() {
        let got = messages("tunnel_mtu = 1400\n");
        assert_eq!(
            got,
            [
                "a.toml: missing key `locator`",
                "a.toml: no [[interface]]: at least one is required"
            ]
        );
        let text = "locator = \"2001:db8::1\"\n\n[[interface]]\nname = \"e\"\nrole = \"core\"\n\n[[interface]]\nname = \"e\"\nrole = \"access\"\n\n[[interface]]\nname = \"e\"\nrole = \"core\"\n";
        assert_eq!(
            messages(text),
            [
                "a.toml: line 8: interface e is configured more than once",
                "a.toml: line 12: interface e is configured more than once"
            ]
        );
    }

    #[test]
    fn check_config_reports_source_validation_on_a_core_interface() {
        let text = "locator = \"2001:db8::1\"\n\n[[interface]]\nname = \"e0\"\nrole = \"core\"\nsource_validation = true\n\n[[interface]]\nname = \"e1\"\nrole = \"access\"\nsource_validation = true\n";
        assert_eq!(
            messages(text),
            ["a.toml: line 6: interface e0: source_validation = true needs role = \"access\""]
        );
    }

    #[test]
    fn a_syntax_error_is_the_only_error() {
        let got = messages("locator = \"2001:db8::1\"\ntunnel_mtu = \ninterface = 3\n");
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].starts_with("a.toml: line 2"), "{}", got[0]);
    }

    #[test]
    fn every_packaged_config_passes() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/config");
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
        let mut checked = 0;
        for entry in entries {
            let path = entry.expect("directory entry").path();
            let errors = check_file(&path).expect("readable");
            assert!(
                errors.is_empty(),
                "{}: {:?}",
                path.display(),
                errors.iter().map(ToString::to_string).collect::<Vec<_>>()
            );
            checked += 1;
        }
        assert!(checked >= 2, "expected sample configs in {}", dir.display());
    }

    #[test]
    fn check_config_reports_idle_release_on_a_nonpersistent_pool() {
        let text = format!(
            "{TEMPLATE}\n[maar]\ncmd = \"2001:db8:c::1\"\n[[maar.pool]]\nprefix = \"2001:db8:1::/48\"\n\
             policy = \"nonpersistent\"\nidle_release_s = 30\n"
        );
        let errors = check(&text, "test.toml");
        assert!(
            errors
                .iter()
                .any(|e| e.to_string().contains("maar.pool[0].idle_release_s")),
            "{errors:?}"
        );
    }
}
