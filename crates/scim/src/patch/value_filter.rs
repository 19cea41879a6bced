//! Value filters (`emails[type eq "work"]`) on the elements of an attribute.

use serde_json::{Map, Value};

use crate::filter::{AttrPath, CompareOp, DefaultAttributeInfo, Filter};

/// The `name eq value` constraints of a filter made only of `eq` comparisons joined by `and`.
pub(super) fn equality_constraints(filter: &Filter) -> Option<Vec<(String, Value)>> {
    match filter {
        Filter::And(left, right) => {
            let mut out = equality_constraints(left)?;
            out.extend(equality_constraints(right)?);
            Some(out)
        }
        Filter::Compare { path, op: CompareOp::Eq, value }
            if path.urn.is_none() && path.sub_attr.is_none() =>
        {
            let value = value.to_json();
            (!value.is_null()).then(|| vec![(path.attr.clone(), value)])
        }
        _ => None,
    }
}

/// Whether one element of attribute `attr` matches the value filter (evaluated as
/// `attr[filter]` so that case-exactness follows the attribute).
pub(crate) fn element_matches(attr: &str, filter: &Filter, element: &Value) -> bool {
    let mut wrapper = Map::new();
    wrapper.insert(attr.to_string(), Value::Array(vec![element.clone()]));
    let value_path =
        Filter::ValuePath { path: AttrPath::new(attr), filter: Box::new(filter.clone()) };
    value_path.matches(&Value::Object(wrapper), &DefaultAttributeInfo)
}
