/**
 * The one font family every figure uses. Kept free of Node imports so the figure specs can be
 * built in a browser (web/) as well as in the Node report, whose PNG renderer (report/render.ts)
 * loads this family's files explicitly.
 */
export const FONT_FAMILY = 'DejaVu Sans';
