//! Masking COPY ... TO STDOUT: which COPY statements a text holds, and what
//! happens to each field of their rows (by column position, from the
//! catalog: COPY's data carries no origins).

use pg_query::{protobuf, NodeEnum};

use super::{
    catalog::{Origin, Snapshot},
    copy_text::TextFormat,
    detectors::DetectorSet,
    masks::{HashKey, Mask},
};

/// A COPY ... TO STDOUT statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyStatement {
    /// The table (schema as written, name); `None` for `COPY (query)`.
    pub relation: Option<(Option<String>, String)>,
    /// The column list, empty for all columns.
    pub columns: Vec<String>,
    /// The text format's options; `None` for csv and binary.
    pub format: Option<TextFormat>,
}

impl CopyStatement {
    /// `None` unless the statement copies to the client.
    pub fn from_node(copy: &protobuf::CopyStmt) -> Option<Self> {
        if copy.is_from || copy.is_program || !copy.filename.is_empty() {
            return None;
        }
        let relation = copy.relation.as_ref().map(|r| {
            let schema = Some(r.schemaname.clone()).filter(|s| !s.is_empty());
            (schema, r.relname.clone())
        });
        let columns = copy
            .attlist
            .iter()
            .filter_map(|n| match n.node.as_ref() {
                Some(NodeEnum::String(s)) => Some(s.sval.clone()),
                _ => None,
            })
            .collect();
        let mut format = Some(TextFormat::default());
        for option in &copy.options {
            let Some(NodeEnum::DefElem(option)) = option.node.as_ref() else {
                continue;
            };
            let value = option.arg.as_ref().and_then(|a| match a.node.as_ref() {
                Some(NodeEnum::String(s)) => Some(s.sval.clone()),
                _ => None,
            });
            match (option.defname.as_str(), value) {
                ("format", Some(name)) if name.eq_ignore_ascii_case("text") => {}
                ("format", _) => format = None,
                ("delimiter", Some(d)) if d.len() == 1 => {
                    if let Some(f) = &mut format {
                        f.delimiter = d.as_bytes()[0];
                    }
                }
                ("delimiter", _) => format = None,
                ("null", Some(null)) => {
                    if let Some(f) = &mut format {
                        f.null = null.into_bytes();
                    }
                }
                _ => {}
            }
        }
        Some(Self {
            relation,
            columns,
            format,
        })
    }
}

/// The COPY ... TO STDOUT statements of a text, in order (a text that does
/// not parse runs nothing, so it has none).
pub fn copy_statements(text: &str) -> Vec<CopyStatement> {
    if !text.to_ascii_lowercase().contains("copy") {
        return Vec::new();
    }
    let Ok(parsed) = pg_query::parse(text, pg_query::ParserOptions::DEFAULT) else {
        return Vec::new();
    };
    parsed
        .protobuf
        .stmts
        .iter()
        .filter_map(|raw| match raw.stmt.as_ref()?.node.as_ref()? {
            NodeEnum::CopyStmt(copy) => CopyStatement::from_node(copy),
            _ => None,
        })
        .collect()
}

/// What happens to one field.
#[derive(Debug, Clone)]
enum Field {
    Pass,
    Detect,
    Mask { mask: Mask, type_oid: u32 },
    Null,
}

/// The plan for one COPY's rows.
#[derive(Debug)]
pub struct CopyPlan {
    format: TextFormat,
    fields: Vec<Field>,
    /// For fields past `fields` (a COPY of a query: no positions known).
    rest: Field,
    /// Rows cannot be masked (a masked table in a format masks are not
    /// written in, or a COPY the gateway did not see): every row is refused.
    unmaskable: Option<&'static str>,
}

impl CopyPlan {
    pub fn new(
        statement: Option<CopyStatement>,
        binary: bool,
        snapshot: Option<&Snapshot>,
        search_path: &[String],
        rule_for: &dyn Fn(&Origin) -> Option<Mask>,
        has_column_rules: bool,
        has_detectors: bool,
    ) -> Self {
        let plain = if has_detectors {
            Field::Detect
        } else {
            Field::Pass
        };
        let mut plan = CopyPlan {
            format: TextFormat::default(),
            fields: Vec::new(),
            rest: plain.clone(),
            unmaskable: None,
        };
        let Some(statement) = statement else {
            if has_column_rules {
                plan.unmaskable = Some("the gateway did not see the COPY statement");
            }
            return plan;
        };
        let Some((schema, name)) = &statement.relation else {
            // COPY (query): its uses of masked columns were refused.
            plan.use_format(statement.format, binary);
            return plan;
        };
        let relation = match snapshot {
            Some(snapshot) => snapshot.relation(schema.as_deref(), name, search_path),
            None if has_column_rules => {
                plan.unmaskable = Some("the masking catalog could not be read");
                return plan;
            }
            None => None,
        };
        let Some(relation) = relation else {
            plan.use_format(statement.format, binary);
            return plan;
        };
        let names: Vec<String> = if statement.columns.is_empty() {
            relation
                .all_columns
                .iter()
                .map(|(_, n)| n.clone())
                .collect()
        } else {
            statement.columns.clone()
        };
        plan.fields = names
            .iter()
            .map(|name| {
                let origin = relation.candidate_named(name);
                match origin.map(|o| (o, rule_for(o))) {
                    Some((origin, Some(_))) if origin.derived => Field::Null,
                    Some((origin, Some(mask))) => Field::Mask {
                        mask,
                        type_oid: origin.type_oid,
                    },
                    _ => plain.clone(),
                }
            })
            .collect();
        plan.rest = Field::Null;
        let masks_some = plan
            .fields
            .iter()
            .any(|f| matches!(f, Field::Mask { .. } | Field::Null));
        match statement.format {
            Some(format) if !binary => plan.format = format,
            _ if masks_some => {
                plan.unmaskable = Some("masks are written only in COPY's text format")
            }
            _ => {
                plan.fields.clear();
                plan.rest = Field::Pass;
            }
        }
        plan
    }

    /// Detectors read only the text format; csv and binary rows of a
    /// relation without masked columns pass as they are.
    fn use_format(&mut self, format: Option<TextFormat>, binary: bool) {
        match format {
            Some(format) if !binary => self.format = format,
            _ => self.rest = Field::Pass,
        }
    }

    /// Whether rows need rewriting at all.
    pub fn rewrites(&self) -> bool {
        self.unmaskable.is_some()
            || !matches!(self.rest, Field::Pass)
            || self.fields.iter().any(|f| !matches!(f, Field::Pass))
    }

    /// Rewrites one row; Ok(false) when it passes unchanged.
    pub fn rewrite(
        &self,
        row: &[u8],
        key: Option<&HashKey>,
        detectors: &DetectorSet,
        out: &mut Vec<u8>,
    ) -> Result<bool, String> {
        if let Some(why) = self.unmaskable {
            return Err(why.to_owned());
        }
        let fields = self.format.decode(row).map_err(|e| e.0.to_owned())?;
        let mut changed = false;
        let mut masked = Vec::new();
        for (i, value) in fields.iter().enumerate() {
            let action = self.fields.get(i).unwrap_or(&self.rest);
            let value = value.as_deref();
            let replaced: Option<Option<&[u8]>> = match (value, action) {
                (None, _) | (_, Field::Pass) => None,
                (Some(_), Field::Null) => Some(None),
                (Some(v), Field::Mask { mask, type_oid }) => {
                    masked.clear();
                    if mask.apply(v, *type_oid, false, key, &mut masked) {
                        Some(Some(&masked[..]))
                    } else {
                        Some(None)
                    }
                }
                (Some(v), Field::Detect) => {
                    match std::str::from_utf8(v)
                        .ok()
                        .and_then(|t| detectors.redact(t))
                    {
                        Some(redacted) => {
                            masked.clear();
                            masked.extend_from_slice(redacted.as_bytes());
                            Some(Some(&masked[..]))
                        }
                        None => None,
                    }
                }
            };
            changed |= replaced.is_some();
            self.format
                .encode_field(i == 0, replaced.unwrap_or(value), out);
        }
        out.push(b'\n');
        Ok(changed)
    }
}
