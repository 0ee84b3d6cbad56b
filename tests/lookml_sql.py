"""A small LookML-to-BigQuery compiler for the tests: the SQL a dashboard tile implies.

Looker writes each tile's query from the explore, the fields, the tile's filters
and the dashboard filters it listens to. This does the same for the subset of
LookML this project uses (dimensions, dimension groups of date/time timeframes,
count/sum/average/max/number measures with filters, left joins, Looker filter
expressions such as ``>0``, ``-EMPTY``, ``NOT NULL``, ``yes``, ``yesterday``), so
the tests can run every tile on the BigQuery emulator. Anything outside that
subset raises instead of guessing.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import lkml
import yaml

LOOKML_DIR = Path(__file__).resolve().parents[1] / "dashboards" / "looker"
REF = re.compile(r"\$\{([A-Za-z_][\w.]*)\}")
CONSTANT = re.compile(r"@\{(\w+)\}")

TIMEFRAME_SQL = {  # timeframe -> BigQuery expression over the group's sql; {x} is that sql
    ("raw", "timestamp"): "{x}",
    ("time", "timestamp"): "FORMAT_TIMESTAMP('%F %T', {x})",
    ("date", "timestamp"): "DATE({x})",
    ("hour_of_day", "timestamp"): "EXTRACT(HOUR FROM {x})",
    ("date", "date"): "{x}",
    ("week", "date"): "FORMAT_DATE('%F', DATE_TRUNC({x}, WEEK(MONDAY)))",
    ("month", "date"): "FORMAT_DATE('%Y-%m', {x})",
}


@dataclasses.dataclass(frozen=True)
class Field:
    view: str
    name: str
    kind: str            # dimension | measure
    type: str
    sql: str             # raw LookML sql, references unresolved
    filters: tuple[tuple[str, str], ...] = ()


class Project:
    """The LookML project in ``LOOKML_DIR``: views, explores, dashboards, constants."""

    def __init__(self, lookml_dir: Path = LOOKML_DIR):
        self.dir = Path(lookml_dir)
        manifest = lkml.load((self.dir / "manifest.lkml").read_text())
        self.constants = {c["name"]: c["value"] for c in manifest.get("constants", [])}
        self.views: dict[str, dict] = {}
        self.fields: dict[str, Field] = {}
        for path in sorted(self.dir.glob("*.view.lkml")):
            for view in lkml.load(path.read_text())["views"]:
                self.views[view["name"]] = view
                self._add_fields(view)
        models = [lkml.load(p.read_text()) for p in sorted(self.dir.glob("*.model.lkml"))]
        self.explores = {e["name"]: e for m in models for e in m.get("explores", [])}
        self.dashboards = {}
        for path in sorted(self.dir.glob("*.dashboard.lookml")):
            for dashboard in yaml.safe_load(path.read_text()):
                self.dashboards[dashboard["dashboard"]] = dashboard

    def _add_fields(self, view: dict) -> None:
        name = view["name"]
        for d in view.get("dimensions", []):
            self.fields[f"{name}.{d['name']}"] = Field(name, d["name"], "dimension", d.get("type", "string"),
                                                       d.get("sql", f"${{TABLE}}.{d['name']}"))
        for g in view.get("dimension_groups", []):
            datatype = g.get("datatype", "timestamp")
            for timeframe in g["timeframes"]:
                if (timeframe, datatype) not in TIMEFRAME_SQL:
                    raise ValueError(f"{name}.{g['name']}: timeframe {timeframe} on {datatype} not supported here")
                sql = TIMEFRAME_SQL[(timeframe, datatype)].format(x=g["sql"])
                self.fields[f"{name}.{g['name']}_{timeframe}"] = Field(name, f"{g['name']}_{timeframe}", "dimension",
                                                                       "time", sql)
        for m in view.get("measures", []):
            # lkml gives the block form `filters: { field: .. value: .. }` (repeatable) as filters__all,
            # and the shorthand `filters: [field: "value"]` as filters.
            blocks = m.get("filters__all", [])
            shorthand = m.get("filters", [])
            pairs = tuple((f["field"], f["value"]) for f in blocks + (shorthand if isinstance(shorthand, list) else []))
            self.fields[f"{name}.{m['name']}"] = Field(name, m["name"], "measure", m["type"], m.get("sql", ""), pairs)

    def primary_key(self, view: str) -> str:
        (key,) = [d["name"] for d in self.views[view].get("dimensions", []) if d.get("primary_key") == "yes"]
        return f"{view}.{key}"

    def table(self, view: str) -> str:
        return CONSTANT.sub(lambda m: self.constants[m.group(1)], self.views[view]["sql_table_name"].strip())

    # -- SQL for fields --------------------------------------------------------------------------

    def sql(self, ref: str, in_view: str | None = None) -> str:
        """The SQL of a field reference (``view.field``, or ``field`` inside ``in_view``)."""
        full = ref if "." in ref else f"{in_view}.{ref}"
        if full not in self.fields:
            raise KeyError(f"no field {full}")
        field = self.fields[full]
        if field.kind == "dimension":
            return "(" + self._resolve(field.sql, field.view) + ")"
        return "(" + self._measure(field) + ")"

    def _resolve(self, sql: str, view: str) -> str:
        sql = sql.replace("${TABLE}", view)

        def one(match: re.Match) -> str:
            return self.sql(match.group(1), view)

        return REF.sub(one, sql).strip().rstrip(";").strip()

    def _measure(self, field: Field) -> str:
        view = field.view
        condition = " AND ".join(condition_sql(self.sql(f, view), self.fields[f"{view}.{f}"].type, value)
                                 for f, value in field.filters) or "TRUE"
        if field.type == "count":
            return f"COUNT(DISTINCT CASE WHEN {condition} THEN {self.sql(self.primary_key(view))} END)"
        value = self._resolve(field.sql, view)
        if field.type == "number":
            return value
        aggregate = {"sum": "SUM", "average": "AVG", "max": "MAX", "min": "MIN"}[field.type]
        return f"{aggregate}(CASE WHEN {condition} THEN {value} END)"

    # -- tiles -----------------------------------------------------------------------------------

    def tile_sql(self, element: dict, dashboard_filters: dict[str, str] | None = None,
                 override_filters: dict[str, str] | None = None) -> str:
        """The BigQuery SELECT for one dashboard element.

        ``dashboard_filters`` maps a dashboard filter's name to a Looker filter
        expression; it applies to the fields the element listens with.
        ``override_filters`` replaces the element's own filter on a field.
        """
        explore = self.explores[element["explore"]]
        base = explore.get("from", explore["name"])
        fields = list(element["fields"])
        filters = dict(element.get("filters") or {})
        filters.update(override_filters or {})
        for name, expression in (dashboard_filters or {}).items():
            listened = (element.get("listen") or {}).get(name)
            if listened and expression:
                filters[listened] = expression
        used_views = {f.split(".")[0] for f in fields + list(filters)}
        dimensions = [f for f in fields if self.fields[f].kind == "dimension"]
        measures = [f for f in fields if self.fields[f].kind == "measure"]
        select = [f"{self.sql(f)} AS {f.replace('.', '__')}" for f in fields]
        joins = []
        for join in explore.get("joins", []):
            if join["name"] in used_views:
                joins.append(f"LEFT JOIN {self.table(join['name'])} AS {join['name']} "
                             f"ON {self._resolve(join['sql_on'], join['name'])}")
        unknown = used_views - {base} - {j["name"] for j in explore.get("joins", [])}
        if unknown:
            raise KeyError(f"explore {explore['name']} cannot reach views {unknown}")
        where = [condition_sql(self.sql(f), self.fields[f].type, v) for f, v in filters.items()
                 if self.fields[f].kind == "dimension"]
        having = [condition_sql(self.sql(f), self.fields[f].type, v) for f, v in filters.items()
                  if self.fields[f].kind == "measure"]
        sql = f"SELECT {', '.join(select)}\nFROM {self.table(base)} AS {base}"
        if joins:
            sql += "\n" + "\n".join(joins)
        if where:
            sql += "\nWHERE " + " AND ".join(where)
        if dimensions and measures:
            sql += "\nGROUP BY " + ", ".join(str(i + 1) for i, f in enumerate(fields) if f in dimensions)
        elif dimensions:
            sql += "\nGROUP BY " + ", ".join(str(i + 1) for i in range(len(fields)))
        if having:
            sql += "\nHAVING " + " AND ".join(having)
        sorts = [s.split() for s in element.get("sorts", [])]
        if sorts:
            sql += "\nORDER BY " + ", ".join(f"{s[0].replace('.', '__')} {'DESC' if s[1:] == ['desc'] else 'ASC'}"
                                              for s in sorts)
        if element.get("limit"):
            sql += f"\nLIMIT {int(element['limit'])}"
        return sql


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def condition_sql(sql: str, field_type: str, expression: str) -> str:
    """A Looker filter expression on one field, as a BigQuery condition."""
    expression = str(expression).strip()
    if expression == "NOT NULL":
        return f"{sql} IS NOT NULL"
    if expression == "NULL":
        return f"{sql} IS NULL"
    if expression == "-EMPTY":
        return f"({sql} IS NOT NULL AND LENGTH({sql}) <> 0)"
    if field_type == "yesno":
        return sql if expression == "yes" else f"NOT COALESCE({sql}, FALSE)"
    if field_type == "time":
        if expression == "yesterday":
            return f"{sql} = DATE_SUB(CURRENT_DATE(), INTERVAL 1 DAY)"
        m = re.fullmatch(r"(\d{4}-\d{2}-\d{2}) to (\d{4}-\d{2}-\d{2})", expression)   # end exclusive, as in Looker
        if m:
            return f"({sql} >= DATE '{m.group(1)}' AND {sql} < DATE '{m.group(2)}')"
        m = re.fullmatch(r"\d{4}-\d{2}-\d{2}", expression)
        if m:
            return f"{sql} = DATE '{expression}'"
        raise ValueError(f"date filter {expression!r} not supported here")
    m = re.fullmatch(r"(>=|<=|>|<|=)\s*(-?[\d.]+)", expression)
    if m:
        return f"{sql} {m.group(1)} {m.group(2)}"
    if field_type == "number":
        return f"{sql} = {float(expression)}"
    values = [v.strip() for v in expression.split(",")]
    return f"{sql} IN ({', '.join(_literal(v) for v in values)})"
