import { createTheme } from '@mantine/core';

/**
 * Mantine's defaults with AA contrast on white: the primary shade 8 (white on blue 6 is 3.6:1),
 * dimmed text in gray 7 (theme.css). System fonts: nothing is fetched (the CSP allows only 'self').
 */
export const theme = createTheme({ primaryShade: 8 });
