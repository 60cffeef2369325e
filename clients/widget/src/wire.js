// The values of the service's answers that the widget acts on, named once. They mirror the answering
// domain's types (src/answering): a turn's route, a citation's kind, a refusal's reason, a block's kind.

export const ROUTE_SMALLTALK = "smalltalk"; // a greeting or thanks: no feedback is asked for it
export const KIND_SELECTION = "selection"; // a citation of the reader's highlighted text, not of the book

// A refusal's reason, with the strings (i18n.js) for its badge and its lead sentence.
export const REASONS = {
  not_covered: { badge: "notInBook", lead: "notCovered" },
  not_mentioned: { badge: "notInBook", lead: "notMentioned" },
  not_in_selection: { badge: "notInSelectionBadge", lead: "notInSelection" },
  no_example: { badge: "notInSelectionBadge", lead: "noExample" },
  off_task: { badge: "offTaskBadge", lead: "offTask" },
};

// A block's kind: the book's own code, lists, tables, math and figures an answer shows as such (its
// `blocks`). A kind this version does not know (a newer service) is shown as the answer's text.
export const BLOCK_CODE = "code";
export const BLOCK_LIST = "list";
export const BLOCK_TABLE = "table";
export const BLOCK_MATH = "math";
export const BLOCK_FIGURE = "figure";
