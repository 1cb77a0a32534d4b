// Migrations are imported as text (`with { type: 'text' }`) so the binary carries them.
declare module '*.sql' {
  const text: string
  export default text
}

// The dashboard's chart library, imported as text so the binary serves it itself.
declare module 'uplot/dist/uPlot.iife.min.js' {
  const text: string
  export default text
}
declare module 'uplot/dist/uPlot.min.css' {
  const text: string
  export default text
}
