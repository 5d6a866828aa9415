//! Visits every node of a parse tree and notes what the policy cares about.
//!
//! pg_query's tree types all derive `serde::Serialize`, generated from the
//! grammar's own node definitions. Walking the tree through a serializer
//! therefore reaches every field of every node type, including ones added in
//! a later grammar: a hand-written walker would silently skip what it does not
//! know, and a security classifier must not.
//!
//! Each struct entered is a frame on a stack, with the field being serialized;
//! a string is interpreted by the frames above it (e.g. the `sval` of a
//! `String` inside `FuncCall.funcname` is part of a function's name).

use serde::ser::{self, Serialize};

/// One step from the root: a struct (with the field being visited) or an
/// element of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    Struct {
        id: u32,
        name: &'static str,
        field: &'static str,
        /// Index into the tree's vector for this kind of node, if noted.
        slot: u32,
    },
    Element(u32),
}

/// A table, view or sequence named somewhere in the statement.
#[derive(Debug, Clone, Default)]
pub struct RelationNode {
    pub schema: String,
    pub name: String,
    /// `t` for a temporary relation being created.
    pub persistence: String,
    /// The frames from the root down to (not including) this RangeVar.
    pub ancestry: Vec<Frame>,
}

/// A function call: its name as written (schema-qualified or not).
#[derive(Debug, Clone, Default)]
pub struct FunctionNode {
    pub name: Vec<String>,
    /// The first argument when it is a string constant (`set_config('role', ...)`).
    pub first_string_arg: Option<String>,
}

/// A WITH clause: which statement owns it and whether it is RECURSIVE.
#[derive(Debug, Clone)]
pub struct WithNode {
    /// The statement the WITH clause belongs to.
    pub owner: Option<u32>,
    pub recursive: bool,
    pub names: Vec<String>,
}

/// A statement node anywhere in the tree (`...Stmt`).
#[derive(Debug, Clone)]
pub struct StatementNode {
    pub id: u32,
    pub name: &'static str,
}

/// Everything noted in one statement's tree.
#[derive(Debug, Default)]
pub struct Tree {
    pub statements: Vec<StatementNode>,
    pub relations: Vec<RelationNode>,
    pub functions: Vec<FunctionNode>,
    /// Operator names (`=`, `pg_catalog.+`, `public.###`) from expressions,
    /// `ORDER BY ... USING` and `ANY`/`ALL` sublinks.
    pub operators: Vec<Vec<String>>,
    pub withs: Vec<WithNode>,
    /// Statements carrying a FOR UPDATE/SHARE locking clause.
    pub locking: Vec<u32>,
    /// Prepared statements run (`EXECUTE name`, also under EXPLAIN).
    pub executes: Vec<String>,
    /// INSERT statements with ON CONFLICT DO UPDATE (they update rows too).
    pub upserts: Vec<u32>,
    /// The type names of casts (`x::t`, `CAST(x AS t)`).
    pub casts: Vec<Vec<String>>,
}

/// Walks a node (a whole statement) and returns what it found.
pub fn walk<T: Serialize>(node: &T) -> Result<Tree, WalkError> {
    let mut walker = Walker::default();
    node.serialize(&mut walker)?;
    walker.tree.operators.retain(|name| !name.is_empty());
    Ok(walker.tree)
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct WalkError(String);

impl ser::Error for WalkError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        WalkError(msg.to_string())
    }
}

#[derive(Default)]
struct Walker {
    tree: Tree,
    stack: Vec<Frame>,
    next_id: u32,
}

/// Structs whose `field` holds a list of `String` nodes forming an operator name.
const OPERATOR_NAME_FIELDS: &[(&str, &str)] = &[
    ("AExpr", "name"),
    ("SortBy", "use_op"),
    ("SubLink", "oper_name"),
];

impl Walker {
    fn nearest_statement(&self) -> Option<u32> {
        self.stack.iter().rev().find_map(|f| match f {
            Frame::Struct { id, name, .. } if name.ends_with("Stmt") => Some(*id),
            _ => None,
        })
    }

    fn enter_struct(&mut self, name: &'static str) {
        self.next_id += 1;
        let id = self.next_id;
        let enclosing = self.nearest_statement();
        let cast_type = matches!(self.struct_at(0), Some(("TypeCast", "type_name", _)));
        let tree = &mut self.tree;
        let slot = match name {
            "RangeVar" => {
                tree.relations.push(RelationNode {
                    ancestry: self.stack.clone(),
                    ..Default::default()
                });
                tree.relations.len() - 1
            }
            "FuncCall" => {
                tree.functions.push(FunctionNode::default());
                tree.functions.len() - 1
            }
            "AExpr" | "SortBy" | "SubLink" => {
                tree.operators.push(Vec::new());
                tree.operators.len() - 1
            }
            "TypeName" if cast_type => {
                tree.casts.push(Vec::new());
                tree.casts.len() - 1
            }
            "WithClause" => {
                tree.withs.push(WithNode {
                    owner: enclosing,
                    recursive: false,
                    names: Vec::new(),
                });
                tree.withs.len() - 1
            }
            _ => 0,
        };
        if name == "LockingClause" {
            if let Some(owner) = enclosing {
                self.tree.locking.push(owner);
            }
        }
        if name.ends_with("Stmt") {
            self.tree.statements.push(StatementNode { id, name });
        }
        self.stack.push(Frame::Struct {
            id,
            name,
            field: "",
            slot: slot as u32,
        });
    }

    /// The struct `depth` struct frames above the top one (0 = the top),
    /// with the element index just below it, if any.
    fn struct_at(&self, from_top: usize) -> Option<(&'static str, &'static str, u32)> {
        match self.stack.iter().rev().nth(from_top)? {
            Frame::Struct {
                name, field, slot, ..
            } => Some((name, field, *slot)),
            Frame::Element(_) => None,
        }
    }

    fn element_at(&self, from_top: usize) -> Option<u32> {
        match self.stack.iter().rev().nth(from_top)? {
            Frame::Element(i) => Some(*i),
            Frame::Struct { .. } => None,
        }
    }

    fn string(&mut self, value: &str) {
        let Some((name, field, slot)) = self.struct_at(0) else {
            return;
        };
        let slot = slot as usize;
        match (name, field) {
            ("RangeVar", "schemaname") => self.tree.relations[slot].schema = value.into(),
            ("RangeVar", "relname") => self.tree.relations[slot].name = value.into(),
            ("RangeVar", "relpersistence") => self.tree.relations[slot].persistence = value.into(),
            ("ExecuteStmt", "name") => self.tree.executes.push(value.into()),
            ("CommonTableExpr", "ctename") => {
                // CommonTableExpr <- Node <- element <- WithClause.ctes
                if let Some(("WithClause", "ctes", with)) = self.struct_at(3) {
                    self.tree.withs[with as usize].names.push(value.into());
                }
            }
            ("String", "sval") => self.string_node(value),
            _ => {}
        }
    }

    /// A `String` node: part of a name list, or a string constant.
    fn string_node(&mut self, value: &str) {
        // String <- Node <- element <- owner.field
        if let Some((owner, field, slot)) = self.struct_at(3) {
            let slot = slot as usize;
            if (owner, field) == ("FuncCall", "funcname") {
                self.tree.functions[slot].name.push(value.into());
                return;
            }
            if OPERATOR_NAME_FIELDS.contains(&(owner, field)) {
                self.tree.operators[slot].push(value.into());
                return;
            }
            if (owner, field) == ("TypeName", "names")
                && matches!(self.struct_at(4), Some(("TypeCast", "type_name", _)))
            {
                self.tree.casts[slot].push(value.into());
                return;
            }
        }
        // String <- AConst.val <- Node <- element 0 <- FuncCall.args
        if let (Some(("AConst", "val", _)), Some(0), Some(("FuncCall", "args", slot))) =
            (self.struct_at(1), self.element_at(3), self.struct_at(4))
        {
            let function = &mut self.tree.functions[slot as usize];
            function
                .first_string_arg
                .get_or_insert_with(|| value.into());
        }
    }

    fn integer(&mut self, value: i32) {
        if let Some(("OnConflictClause", "action", _)) = self.struct_at(0) {
            if value == pg_query::protobuf::OnConflictAction::OnconflictUpdate as i32 {
                if let Some(insert) = self.nearest_statement() {
                    self.tree.upserts.push(insert);
                }
            }
        }
    }

    fn boolean(&mut self, value: bool) {
        if let Some(("WithClause", "recursive", slot)) = self.struct_at(0) {
            self.tree.withs[slot as usize].recursive = value;
        }
    }
}

impl ser::Serializer for &mut Walker {
    type Ok = ();
    type Error = WalkError;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn serialize_bool(self, v: bool) -> Result<(), WalkError> {
        self.boolean(v);
        Ok(())
    }
    fn serialize_i8(self, _: i8) -> Result<(), WalkError> {
        Ok(())
    }
    fn serialize_i16(self, _: i16) -> Result<(), WalkError> {
        Ok(())
    }
    fn serialize_i32(self, v: i32) -> Result<(), WalkError> {
        self.integer(v);
        Ok(())
    }
    fn serialize_i64(self, _: i64) -> Result<(), WalkError> {
        Ok(())
    }
    fn serialize_u8(self, _: u8) -> Result<(), WalkError> {
        Ok(())
    }
    fn serialize_u16(self, _: u16) -> Result<(), WalkError> {
        Ok(())
    }
    fn serialize_u32(self, _: u32) -> Result<(), WalkError> {
        Ok(())
    }
    fn serialize_u64(self, _: u64) -> Result<(), WalkError> {
        Ok(())
    }
    fn serialize_f32(self, _: f32) -> Result<(), WalkError> {
        Ok(())
    }
    fn serialize_f64(self, _: f64) -> Result<(), WalkError> {
        Ok(())
    }
    fn serialize_char(self, _: char) -> Result<(), WalkError> {
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), WalkError> {
        self.string(v);
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), WalkError> {
        Ok(())
    }
    fn serialize_none(self) -> Result<(), WalkError> {
        Ok(())
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<(), WalkError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), WalkError> {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), WalkError> {
        Ok(())
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
    ) -> Result<(), WalkError> {
        Ok(())
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), WalkError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        value: &T,
    ) -> Result<(), WalkError> {
        value.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self, WalkError> {
        self.stack.push(Frame::Element(0));
        Ok(self)
    }
    fn serialize_tuple(self, len: usize) -> Result<Self, WalkError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Self, WalkError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        len: usize,
    ) -> Result<Self, WalkError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self, WalkError> {
        self.stack.push(Frame::Element(0));
        Ok(self)
    }
    fn serialize_struct(self, name: &'static str, _: usize) -> Result<Self, WalkError> {
        self.enter_struct(name);
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self, WalkError> {
        self.enter_struct(variant);
        Ok(self)
    }
}

impl Walker {
    fn element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), WalkError> {
        value.serialize(&mut *self)?;
        if let Some(Frame::Element(index)) = self.stack.last_mut() {
            *index += 1;
        }
        Ok(())
    }

    fn field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), WalkError> {
        if let Some(Frame::Struct { field, .. }) = self.stack.last_mut() {
            *field = key;
        }
        value.serialize(&mut *self)
    }

    fn leave(&mut self) {
        self.stack.pop();
    }
}

/// Compound values: every element goes through `element`, every named field
/// through `field`; `end` leaves the frame the compound entered.
macro_rules! compound {
    ($($trait:ident :: $method:ident),* $(,)?) => {$(
        impl ser::$trait for &mut Walker {
            type Ok = ();
            type Error = WalkError;
            fn $method<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), WalkError> {
                self.element(value)
            }
            fn end(self) -> Result<(), WalkError> {
                self.leave();
                Ok(())
            }
        }
    )*};
}

compound!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field,
);

macro_rules! named_fields {
    ($($trait:ident),* $(,)?) => {$(
        impl ser::$trait for &mut Walker {
            type Ok = ();
            type Error = WalkError;
            fn serialize_field<T: ?Sized + Serialize>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), WalkError> {
                self.field(key, value)
            }
            fn end(self) -> Result<(), WalkError> {
                self.leave();
                Ok(())
            }
        }
    )*};
}

named_fields!(SerializeStruct, SerializeStructVariant);

impl ser::SerializeMap for &mut Walker {
    type Ok = ();
    type Error = WalkError;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), WalkError> {
        self.element(key)
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), WalkError> {
        self.element(value)
    }
    fn end(self) -> Result<(), WalkError> {
        self.leave();
        Ok(())
    }
}
