// JSX typings for <unlink-account> in React 19 TSX, so the element and its attributes type-check:
//
//   import type {} from "unlink-widget/jsx";
//   <unlink-account account-id={id} endpoint="/api/mono" bank="GTBank" mask="1234" />
//
// A separate entry because it augments "react": in the main declarations it would break
// TypeScript projects that have no React types installed.
import type { DetailedHTMLProps, HTMLAttributes } from "react";
import type { UnlinkAccountAttributes } from "./unlink.js";

declare module "react" {
  namespace JSX {
    interface IntrinsicElements {
      "unlink-account": DetailedHTMLProps<HTMLAttributes<HTMLElement>, HTMLElement> &
        UnlinkAccountAttributes;
    }
  }
}
