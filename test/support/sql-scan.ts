// Finds SQL that is not a postgres.js tagged template with bound parameters: calls of
// `.unsafe(...)`, and SQL text built as a plain (untagged) template or by `+`. Uses the
// TypeScript parser, so comments and tagged templates (sql`... ${value}`) are told apart.
import ts from 'typescript';

export interface SqlFinding {
  file: string;
  line: number;
  kind: 'unsafe-call' | 'sql-template' | 'sql-concatenation';
  text: string;
}

/**
 * SQL statements: any upper-case statement (as this codebase writes SQL), and the
 * multi-word openings prose never has in any case ("select ... from" alone is too common in prose).
 */
const SQL_UPPER =
  /\b(SELECT\b[\s\S]*\bFROM|INSERT\s+INTO|UPDATE\s+\w+(\s+\w+)?\s+SET|DELETE\s+FROM|(CREATE|DROP|ALTER)\s+(OR\s+REPLACE\s+)?(TABLE|DATABASE|INDEX|UNIQUE|SCHEMA|ROLE|USER|FUNCTION|TRIGGER|TYPE|VIEW|EXTENSION|SEQUENCE|MATERIALIZED)|TRUNCATE\s+\w+|GRANT\s+\w+|COPY\s+\w+[\s\S]*\b(FROM|TO)\s+(STDIN|STDOUT|')|(LISTEN|NOTIFY)\s+\w+)/;
const SQL_ANY_CASE =
  /\b(insert\s+into|update\s+\w+(\s+\w+)?\s+set\s+\w+\s*=|delete\s+from|create\s+(table|database|index|schema|role)|drop\s+(table|database|index|schema|role)|alter\s+table|select\s+[\w*,.\s]+\s+from\s+\w+\s+where)\b/i;
const looksLikeSql = (text: string) => SQL_UPPER.test(text) || SQL_ANY_CASE.test(text);

function literalText(node: ts.Node): string | null {
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
  if (ts.isTemplateExpression(node)) return node.head.text + node.templateSpans.map((span) => span.literal.text).join(' ');
  return null;
}

export function scanSource(file: string, source: string): SqlFinding[] {
  const sourceFile = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const findings: SqlFinding[] = [];
  const add = (node: ts.Node, kind: SqlFinding['kind']) => {
    const { line } = sourceFile.getLineAndCharacterOfPosition(node.getStart(sourceFile));
    findings.push({ file, line: line + 1, kind, text: node.getText(sourceFile).slice(0, 120) });
  };
  const isUnsafeCall = (node: ts.Node): node is ts.CallExpression =>
    ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression) && node.expression.name.text === 'unsafe';
  const visit = (node: ts.Node) => {
    if (isUnsafeCall(node)) {
      add(node, 'unsafe-call');
    } else if (ts.isTemplateExpression(node) && !ts.isTaggedTemplateExpression(node.parent) && !isUnsafeCall(node.parent)) {
      // A template with substitutions that is not sql`...`: the values would be spliced into the text.
      const text = literalText(node);
      if (text && looksLikeSql(text)) add(node, 'sql-template');
    } else if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.PlusToken) {
      const parts = [node.left, node.right].map(literalText).filter((t): t is string => t !== null);
      if (parts.some(looksLikeSql)) add(node, 'sql-concatenation');
    }
    ts.forEachChild(node, visit);
  };
  visit(sourceFile);
  return findings;
}
