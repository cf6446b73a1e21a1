//! Which entries of a custom archive bring back some tables and nothing else (issue #26):
//! pure, from the archive's table of contents. Every schema, type, function and table
//! definition (the pre-data section: cheap, and what the tables' columns, defaults and
//! checks may need), then only the chosen tables' data, their sequences' values, and what
//! is built on them alone (indexes, constraints, triggers, rules, policies, grants,
//! comments). What is built on a chosen table *and* on one that is not chosen (a foreign
//! key either way, a view) cannot come back with it: it is named in
//! [`Selection::left_out`], never silently dropped.

use pg_archive::{Section, TocEntry};
use std::collections::{BTreeMap, BTreeSet};

/// A table, by schema and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct QualifiedName {
    pub schema: String,
    pub name: String,
}

impl std::fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

impl QualifiedName {
    /// `schema.name` as an operator types it (`public.orders`, `"My.Schema".orders`);
    /// a bare `orders` is in `public`.
    pub fn parse(text: &str) -> Option<QualifiedName> {
        // pg-archive's reader of the names pg_dump writes: the same quoting rules.
        let (schema, name, rest) = pg_archive::qualified(text.trim())?;
        rest.is_empty().then(|| QualifiedName {
            schema: if schema.is_empty() {
                "public".into()
            } else {
                schema
            },
            name,
        })
    }
}

/// What the operator asked back.
#[derive(Debug, Clone, Default)]
pub struct Wanted {
    pub tables: Vec<QualifiedName>,
    /// Every table of these schemas.
    pub schemas: Vec<String>,
}

/// Something built on a chosen table that does not come back with it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LeftOut {
    /// The archive's kind: `FK CONSTRAINT`, `VIEW`, `MATERIALIZED VIEW`, `TRIGGER`, …
    pub kind: String,
    /// `schema.tag` as the archive names it.
    pub name: String,
    pub reason: String,
}

/// The entries to restore, and what the restore brings back and leaves out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Dump ids, in archive order.
    pub ids: Vec<i64>,
    pub tables: Vec<QualifiedName>,
    pub left_out: Vec<LeftOut>,
}

/// Why nothing can be selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectError {
    /// A table or schema the set does not hold; with the set's tables of that name in
    /// other schemas, if any.
    NotInSet {
        what: String,
        elsewhere: Vec<String>,
    },
}

const TABLE: &str = "TABLE";

/// The entries that bring back `wanted` (with the partitions of a partitioned table).
pub fn select(entries: &[TocEntry], wanted: &Wanted) -> Result<Selection, SelectError> {
    let tables = with_partitions(entries, chosen_tables(entries, wanted)?);
    let toc = Toc {
        by_id: entries.iter().map(|e| (e.dump_id, e)).collect(),
        sequences: owned_sequences(entries, &tables),
        tables,
    };
    let mut selection = Selection::default();
    for e in entries {
        let (keep, left_out) = toc.decide(e);
        if keep {
            selection.ids.push(e.dump_id);
        }
        selection.left_out.extend(left_out);
    }
    selection.tables = toc.names();
    Ok(selection)
}

/// The archive's entries and the tables chosen from it.
struct Toc<'a> {
    by_id: BTreeMap<i64, &'a TocEntry>,
    tables: BTreeSet<i64>,
    /// The sequences the chosen tables own.
    sequences: BTreeSet<i64>,
}

impl Toc<'_> {
    /// The table a dependency stands for: itself, or the table of an index or constraint
    /// it names (a foreign key depends on the referenced table's unique constraint).
    fn table_of(&self, id: i64) -> Option<i64> {
        let e = self.by_id.get(&id)?;
        if e.desc == TABLE {
            return Some(id);
        }
        if !matches!(e.desc.as_str(), "CONSTRAINT" | "INDEX") {
            return None;
        }
        e.deps
            .iter()
            .copied()
            .find(|d| self.by_id.get(d).is_some_and(|t| t.desc == TABLE))
    }

    /// Whether `e` is restored, and what of it does not come back (and why).
    fn decide(&self, e: &TocEntry) -> (bool, Option<LeftOut>) {
        let on: BTreeSet<i64> = e.deps.iter().filter_map(|&d| self.table_of(d)).collect();
        let touches = on.iter().any(|t| self.tables.contains(t));
        let view = matches!(e.desc.as_str(), "VIEW" | "MATERIALIZED VIEW");
        match e.section {
            // Every definition: the chosen tables and what their columns need (not the
            // large objects). The data and what is built on the data come only for the
            // chosen tables; a view on one is not restored with it.
            Section::PreData if view && touches => (
                false,
                Some(left(
                    e,
                    "reads a restored table; it is not restored with it",
                )),
            ),
            Section::PreData => (!matches!(e.desc.as_str(), "BLOB" | "BLOB METADATA"), None),
            Section::Data => match e.desc.as_str() {
                "TABLE DATA" => (on.iter().any(|t| self.tables.contains(t)), None),
                "SEQUENCE SET" => (e.deps.iter().any(|d| self.sequences.contains(d)), None),
                _ => (false, None),
            },
            Section::PostData | Section::None if touches => {
                let others: Vec<String> = on
                    .iter()
                    .filter(|t| !self.tables.contains(t))
                    .filter_map(|t| self.by_id.get(t))
                    .map(|t| format!("{}.{}", t.namespace, t.tag))
                    .collect();
                if others.is_empty() {
                    return (true, None);
                }
                let why = format!(
                    "also depends on {}, which is not restored",
                    others.join(", ")
                );
                (false, Some(left(e, &why)))
            }
            // Grants and comments of a sequence the tables own come with them.
            Section::None => (e.deps.iter().any(|d| self.sequences.contains(d)), None),
            Section::PostData => (false, None),
        }
    }

    /// The chosen tables by name, sorted.
    fn names(&self) -> Vec<QualifiedName> {
        let mut names: Vec<QualifiedName> = self
            .tables
            .iter()
            .filter_map(|t| self.by_id.get(t))
            .map(|e| QualifiedName {
                schema: e.namespace.clone(),
                name: e.tag.clone(),
            })
            .collect();
        names.sort();
        names
    }
}

fn left(e: &TocEntry, reason: &str) -> LeftOut {
    LeftOut {
        kind: e.desc.clone(),
        name: format!("{}.{}", e.namespace, e.tag),
        reason: reason.to_string(),
    }
}

/// The TABLE entries asked for by name or schema.
fn chosen_tables(entries: &[TocEntry], wanted: &Wanted) -> Result<BTreeSet<i64>, SelectError> {
    let tables: Vec<&TocEntry> = entries.iter().filter(|e| e.desc == TABLE).collect();
    let mut chosen = BTreeSet::new();
    for w in &wanted.tables {
        let found: Vec<i64> = tables
            .iter()
            .filter(|e| e.namespace == w.schema && e.tag == w.name)
            .map(|e| e.dump_id)
            .collect();
        if found.is_empty() {
            return Err(SelectError::NotInSet {
                what: format!("table {w}"),
                elsewhere: tables
                    .iter()
                    .filter(|e| e.tag == w.name)
                    .map(|e| format!("{}.{}", e.namespace, e.tag))
                    .collect(),
            });
        }
        chosen.extend(found);
    }
    for s in &wanted.schemas {
        let found: Vec<i64> = tables
            .iter()
            .filter(|e| &e.namespace == s)
            .map(|e| e.dump_id)
            .collect();
        if found.is_empty() {
            return Err(SelectError::NotInSet {
                what: format!("a table in schema {s}"),
                elsewhere: Vec::new(),
            });
        }
        chosen.extend(found);
    }
    Ok(chosen)
}

/// The chosen tables and, for a partitioned one, its partitions (each attached by a
/// `TABLE ATTACH` entry that depends on both), to any depth.
fn with_partitions(entries: &[TocEntry], mut tables: BTreeSet<i64>) -> BTreeSet<i64> {
    loop {
        let before = tables.len();
        for e in entries.iter().filter(|e| e.desc == "TABLE ATTACH") {
            if e.deps.iter().any(|d| tables.contains(d)) {
                tables.extend(
                    e.deps
                        .iter()
                        .copied()
                        .filter(|d| entries.iter().any(|t| t.dump_id == *d && t.desc == TABLE)),
                );
            }
        }
        if tables.len() == before {
            return tables;
        }
    }
}

/// The sequences the tables own (serial and identity columns): their `SEQUENCE` entries
/// depend on the table (identity) or a `SEQUENCE OWNED BY` entry ties them to it.
fn owned_sequences(entries: &[TocEntry], tables: &BTreeSet<i64>) -> BTreeSet<i64> {
    let mut seqs = BTreeSet::new();
    for e in entries {
        let on_table = e.deps.iter().any(|d| tables.contains(d));
        if e.desc == "SEQUENCE" && on_table {
            seqs.insert(e.dump_id);
        }
        if e.desc == "SEQUENCE OWNED BY" && on_table {
            seqs.extend(e.deps.iter().copied().filter(|d| !tables.contains(d)));
        }
    }
    seqs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: i64, desc: &str, ns: &str, tag: &str, section: Section, deps: &[i64]) -> TocEntry {
        TocEntry {
            dump_id: id,
            desc: desc.into(),
            tag: tag.into(),
            namespace: ns.into(),
            owner: "o".into(),
            has_data: desc == "TABLE DATA",
            copy: desc == "TABLE DATA",
            columns: None,
            section,
            deps: deps.to_vec(),
            offset_field: None,
            file: None,
            data_at: None,
        }
    }

    /// orders (serial id, pk, index, FK to customers), customers, items (FK to orders),
    /// a view on orders, a partitioned events table with one partition.
    fn archive() -> Vec<TocEntry> {
        use Section::*;
        vec![
            entry(1, "SCHEMA", "", "app", PreData, &[]),
            entry(2, "TABLE", "public", "customers", PreData, &[]),
            entry(3, "TABLE", "public", "orders", PreData, &[]),
            entry(4, "SEQUENCE", "public", "orders_id_seq", PreData, &[]),
            entry(
                5,
                "SEQUENCE OWNED BY",
                "public",
                "orders_id_seq",
                PreData,
                &[4, 3],
            ),
            entry(6, "TABLE", "public", "items", PreData, &[]),
            entry(7, "VIEW", "public", "order_totals", PreData, &[3, 6]),
            entry(8, "TABLE", "public", "events", PreData, &[]),
            entry(9, "TABLE", "public", "events_2026", PreData, &[]),
            entry(
                10,
                "TABLE ATTACH",
                "public",
                "events_2026",
                PreData,
                &[8, 9],
            ),
            entry(11, "TABLE DATA", "public", "customers", Data, &[2]),
            entry(12, "TABLE DATA", "public", "orders", Data, &[3]),
            entry(13, "SEQUENCE SET", "public", "orders_id_seq", Data, &[4]),
            entry(14, "TABLE DATA", "public", "items", Data, &[6]),
            entry(15, "TABLE DATA", "public", "events_2026", Data, &[9]),
            entry(16, "CONSTRAINT", "public", "customers_pkey", PostData, &[2]),
            entry(17, "CONSTRAINT", "public", "orders_pkey", PostData, &[3]),
            entry(18, "INDEX", "public", "orders_at_idx", PostData, &[3]),
            entry(
                19,
                "FK CONSTRAINT",
                "public",
                "orders customer_fk",
                PostData,
                &[3, 16],
            ),
            entry(
                20,
                "FK CONSTRAINT",
                "public",
                "items order_fk",
                PostData,
                &[6, 17],
            ),
            entry(21, "ACL", "public", "TABLE orders", Section::None, &[3]),
            entry(
                22,
                "COMMENT",
                "public",
                "TABLE customers",
                Section::None,
                &[2],
            ),
        ]
    }

    #[test]
    fn one_table_comes_back_with_what_is_built_on_it_alone() {
        let s = select(
            &archive(),
            &Wanted {
                tables: vec![QualifiedName::parse("public.orders").unwrap()],
                schemas: vec![],
            },
        )
        .unwrap();
        assert_eq!(
            s.ids,
            [1, 2, 3, 4, 5, 6, 8, 9, 10, 12, 13, 17, 18, 21],
            "every definition but the view; its data, sequence value, key, index, grant"
        );
        assert_eq!(s.tables, [QualifiedName::parse("orders").unwrap()]);
        let left: Vec<(&str, &str)> = s
            .left_out
            .iter()
            .map(|l| (l.kind.as_str(), l.name.as_str()))
            .collect();
        assert_eq!(
            left,
            [
                ("VIEW", "public.order_totals"),
                ("FK CONSTRAINT", "public.orders customer_fk"),
                ("FK CONSTRAINT", "public.items order_fk"),
            ]
        );
        assert!(s.left_out[1].reason.contains("public.customers"));
    }

    #[test]
    fn a_partitioned_table_brings_its_partitions_and_both_ends_of_a_key_keep_it() {
        let s = select(
            &archive(),
            &Wanted {
                tables: vec![
                    QualifiedName::parse("events").unwrap(),
                    QualifiedName::parse("orders").unwrap(),
                    QualifiedName::parse("customers").unwrap(),
                ],
                schemas: vec![],
            },
        )
        .unwrap();
        assert!(s.ids.contains(&15), "the partition's data");
        assert!(s.ids.contains(&19), "the key between two restored tables");
        assert!(!s.ids.contains(&20) && !s.ids.contains(&14));
        assert_eq!(s.tables.len(), 4);
    }

    #[test]
    fn a_table_not_in_the_set_says_where_that_name_is() {
        let e = select(
            &archive(),
            &Wanted {
                tables: vec![QualifiedName::parse("app.orders").unwrap()],
                schemas: vec![],
            },
        )
        .unwrap_err();
        assert_eq!(
            e,
            SelectError::NotInSet {
                what: "table app.orders".into(),
                elsewhere: vec!["public.orders".into()]
            }
        );
        assert_eq!(
            QualifiedName::parse("\"My.Schema\".\"t\"\"x\"").unwrap(),
            QualifiedName {
                schema: "My.Schema".into(),
                name: "t\"x".into()
            }
        );
        assert!(QualifiedName::parse("a.b.c").is_none());
        assert!(QualifiedName::parse("").is_none());
    }
}
